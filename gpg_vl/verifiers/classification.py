"""``classification``: a class label.

Returns 1.0 when the answer is the ground-truth label, else 0.0. Labels are compared
insensitive to case, whitespace, ``_`` and ``-`` (``Golden_Retriever`` = ``golden retriever``),
through optional aliases (column ``aliases``: label -> list of other names), and optionally
restricted to a label list (column ``labels``: an answer outside it earns nothing).

Why exact matching (issue 3): Visual-RFT's reward checks whether the answer is a *substring* of
the label, so an empty answer -- a substring of everything -- earns full credit, and so does a
partial label ("retriever" for "golden retriever"). Here both earn nothing.

Option ``match="contains"`` follows Visual-RFT's rule for its recipes (grpo_classification.py
``accuracy_reward``: the answer inside the label or the label inside the answer), on whole words
and without its cheap rewards: "a golden retriever dog" and "retriever" name "golden retriever",
but "e", "golden retr" or "" name nothing, and a hedge that names several labels ("cat or dog",
every label in a list) earns 0. Which labels an answer names, in order: labels it equals; else
labels whose words appear in it (a label inside a longer one that also appears does not count:
"black cat" names "black cat", not "cat"); else labels that contain its words. It scores 1.0 only
when every label named is a ground-truth one. The label list is the ``labels`` column (the loader
fills it with every classification answer of the data set); without one, only the gold labels are
known and the rule reduces to whole-word containment.

Column ``answer`` may also be a list of acceptable labels.
"""
from __future__ import annotations

import re
import unicodedata

from gpg_vl.verifiers.parsing import ANSWER_SOURCES, normalize_label, select_answer

_WORD = re.compile(r"[^\W_]+")
MAX_CONTAINS_WORDS = 64  # a longer "answer" is an essay, not a label: it names nothing
from gpg_vl.verifiers.registry import register_scorer


def canonical_label(text, aliases=None) -> str:
    """The normalised label ``text`` names: itself, or the label it is an alias of."""
    key = normalize_label(text)
    for label, names in (aliases or {}).items():
        names = [names] if isinstance(names, str) else names
        if key and key in {normalize_label(n) for n in names}:
            return normalize_label(label)
    return key


MATCH_MODES = ("exact", "contains")


@register_scorer("classification", required=("answer",),
                 checks={"answer_source": ANSWER_SOURCES, "match": MATCH_MODES})
def score_classification(completion: str, answer, labels=None, aliases=None, *,
                         answer_source: str = "block", match: str = "exact") -> float:
    """1.0 when the answer names the ground-truth label (module docstring), else 0.0."""
    if aliases is not None and not isinstance(aliases, dict):
        raise TypeError(f"aliases must map label -> list of names, got {type(aliases).__name__}")
    gold_labels = answer if isinstance(answer, (list, tuple)) else [answer]
    gold = {canonical_label(str(g), aliases) for g in gold_labels} - {""}
    if not gold:
        raise ValueError(f"empty ground-truth label {answer!r}")
    text = select_answer(completion, answer_source)
    pred = canonical_label(text, aliases) if text else ""
    if not pred:
        return 0.0
    if match == "contains":
        return contains_score(text, gold_labels, labels, aliases)
    if labels is not None and pred not in {canonical_label(str(l), aliases) for l in labels}:
        return 0.0
    return 1.0 if pred in gold else 0.0


def _words(text) -> tuple[str, ...]:
    return tuple(_WORD.findall(unicodedata.normalize("NFKC", str(text)).casefold()))


def _has_run(hay: tuple, needle: tuple) -> bool:
    """``needle`` occurs in ``hay`` as consecutive whole words (both short: bounded above)."""
    n = len(needle)
    return 0 < n <= len(hay) and any(hay[i:i + n] == needle for i in range(len(hay) - n + 1))


def named_labels(answer_words: tuple, names: dict[str, list[tuple]]) -> set[str]:
    """The labels (canonical) an answer names, by the rule in the module docstring."""
    equal = {label for label, forms in names.items() if answer_words in forms}
    if equal:
        return equal
    inside = {label: [f for f in forms if _has_run(answer_words, f)] for label, forms in names.items()}
    inside = {label: forms for label, forms in inside.items() if forms}
    # A label whose every match lies inside a longer label that also matched is not named itself.
    longer = [f for forms in inside.values() for f in forms]
    named = {label for label, forms in inside.items()
             if any(not any(len(o) > len(f) and _has_run(o, f) for o in longer) for f in forms)}
    if named:
        return named
    return {label for label, forms in names.items() if any(_has_run(f, answer_words) for f in forms)}


def contains_score(text: str, gold_labels, labels, aliases) -> float:
    """Whole-word containment that names exactly the gold label(s); 0.0 for any hedge."""
    answer_words = _words(text)
    if not answer_words or len(answer_words) > MAX_CONTAINS_WORDS:
        return 0.0
    names: dict[str, list[tuple]] = {}
    for label in [*gold_labels, *(labels or [])]:
        key = canonical_label(str(label), aliases)
        forms = [str(label), *_alias_names(key, aliases)]
        names.setdefault(key, []).extend(w for w in map(_words, forms) if w and w not in names.get(key, []))
    gold = {canonical_label(str(g), aliases) for g in gold_labels}
    named = named_labels(answer_words, names)
    return 1.0 if named and named <= gold else 0.0


def _alias_names(key: str, aliases) -> list[str]:
    out = []
    for label, alias in (aliases or {}).items():
        if normalize_label(label) == key:
            out += [alias] if isinstance(alias, str) else list(alias)
    return out
