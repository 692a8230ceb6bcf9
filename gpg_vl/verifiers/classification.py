"""``classification``: a class label.

Returns 1.0 when the answer is the ground-truth label, else 0.0. Labels are compared
insensitive to case, whitespace, ``_`` and ``-`` (``Golden_Retriever`` = ``golden retriever``),
through optional aliases (column ``aliases``: label -> list of other names), and optionally
restricted to a label list (column ``labels``: an answer outside it earns nothing).

Why exact matching (issue 3): Visual-RFT's reward checks whether the answer is a *substring* of
the label, so an empty answer -- a substring of everything -- earns full credit, and so does a
partial label ("retriever" for "golden retriever"). Here both earn nothing.

Option ``match="contains"`` reproduces Visual-RFT's rule for its recipes (grpo_classification.py
``accuracy_reward``): 1.0 when the normalised answer contains the label or the label contains the
answer ("a golden retriever dog", "retriever"), with no label list; an empty answer still earns
nothing (there it would earn 1.0).

Column ``answer`` may also be a list of acceptable labels.
"""
from __future__ import annotations

from gpg_vl.verifiers.parsing import ANSWER_SOURCES, normalize_label, select_answer
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
    if match == "contains":  # Visual-RFT: either string inside the other
        return 1.0 if any(g in pred or pred in g for g in gold) else 0.0
    if labels is not None and pred not in {canonical_label(str(l), aliases) for l in labels}:
        return 0.0
    return 1.0 if pred in gold else 0.0
