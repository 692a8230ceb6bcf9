"""Which option a free-text response names, on top of ``gpg_vl.eval.extract``.

``read_choice(response, choices)`` returns the index of the option named, or None (nothing
named, a hedge, a refusal). Order of the rules, stated answer first:
1. the stated text *is* a choice text ("8 cm", "Yes");
2. it starts with a letter: "B", "(B)", "B.", "B, as ...", "B because", "(C) zero"; a letter
   followed by another option's text ("B. <text of C>") or "A or B" names nothing;
3. it starts with a choice text ("8 cm, since ..."), the longest one that fits;
4. it holds exactly one bracketed letter "(B)" or "option B";
5. it holds exactly one choice text as whole words;
6. similarity: only a short (MAX_SIMILAR_CHARS) non-refusal close to exactly one choice.
Without a statement, a short response is read as a statement; a long one from its last line
("**B**", "So the answer: B", a final "(B)"), then from its last (else first) sentence naming
exactly one option by text or, for numeric options, by the value it states ("... is 50.0" =
"50°"), and for yes/no questions by its polarity. A statement that names no option falls back
to the last line. A response cut off inside ``<think>`` counts only an explicit statement.
"""
from __future__ import annotations

import re

from gpg_vl.eval.extract import (MAX_SIMILAR_CHARS, Answer, find_answer, first_clause, is_refusal,
                                 numbers_in, own_answer, plain_latex, sentences,
                                 unfinished_thinking)
from gpg_vl.verifiers.choice import normalize_choice_text

MAX_CHOICE_CHARS = 300  # longer choice texts are compared by their first 300 characters
_LEAD = re.compile(r"^(?:(?:option|choice)\s+)?[(\[]?([A-Za-z])(?:[)\]]|(?=[\s.,:;!?]|$))"
                   r"[.,:;!?)\]]*\s*", re.IGNORECASE)
_OTHER_LETTER = re.compile(r"^(?:or|and|,|/)\s*(?:option\s+)?[(\[]?([A-Z])(?:[)\]]|\b)")
_BRACKETED = re.compile(r"\(([A-Z])\)|\b(?:option|choice)\s+([A-Z])\b")
_FINAL_LETTER = re.compile(
    r"(?:^|[:(]|\b(?:is|it's|its|option|choice|answer|be|so|thus|hence|therefore|select|"
    r"choose|pick|go with)\b)"
    r"[\s*]*\(?([A-Z])\)?[\s*]*[.!]?[\s*]*$", re.IGNORECASE)
# "... B because", "B, as": a bare capital letter followed by a reason or a verdict
_BARE_LETTER = re.compile(r"(?<![\w'])\(?([A-Z])\)?(?=\s*(?:,|:|\bbecause\b|\bsince\b|\bas\b|"
                          r"\bis\s+(?:the\s+)?(?:correct|right|answer)))")
_MARKDOWN = re.compile(r"^[\s#>*\-]+|[\s*]+$")


def _choice_key(text: str) -> str:
    """An option text or stated text compared as plain text (``\\text{No}`` = "No",
    ``60*\\degree`` = ``60*°``)."""
    return normalize_choice_text(plain_latex(text))


def _index(letter: str, n: int) -> int | None:
    i = ord(letter.upper()) - ord("A")
    return i if 0 <= i < n else None


def _exact(text: str, keys: list[str]) -> int | None:
    key = _choice_key(text)
    hits = [i for i, k in enumerate(keys) if k and k == key]
    return hits[0] if hits else None


def _lead_letter(text: str, choices: list[str], keys: list[str]) -> tuple[int | None, bool]:
    """(index, hedge) of a leading option letter."""
    m = _LEAD.match(text)
    if not m:
        return None, False
    letter = m.group(1)
    if letter.islower() and text.strip(" ()[].").lower() != letter:
        return None, False  # "a triangle" is no letter; "b" or "(b)" alone is
    index = _index(letter, len(choices))
    if index is None:
        return None, False
    rest = text[m.end():]
    other = _OTHER_LETTER.match(rest)
    if other and other.group(1) != letter.upper():
        return None, True
    named = _exact(first_clause(rest), keys) if rest else None
    if named is not None and keys[named] != keys[index]:
        return None, True  # "B. <text of C>": two different answers
    return index, False


def _prefix(text: str, choices: list[str]) -> int | None:
    low = " ".join(text.casefold().split())
    best, best_len = None, 0
    for i, choice in enumerate(choices):
        c = " ".join(choice[:MAX_CHOICE_CHARS].casefold().split())
        if c and low.startswith(c) and len(c) > best_len:
            after = low[len(c):len(c) + 1]
            if not after or not after.isalnum():
                best, best_len = i, len(c)
    return best


def _contained(text: str, choices: list[str], keys: list[str]) -> set[int]:
    low = text.casefold()
    hits: dict[str, int] = {}
    for i, choice in enumerate(choices):
        c = choice[:MAX_CHOICE_CHARS].casefold().strip()
        if len(c) < 2 and not c.isdigit():
            continue
        if re.search(r"(?<!\w)" + re.escape(c) + r"(?!\w)", low):
            hits.setdefault(keys[i], i)
    # a choice inside a longer one that also matched ("8" in "8 cm") does not count twice
    found = {k: i for k, i in hits.items()
             if not any(k != o and choices[i].casefold() in choices[j].casefold()
                        for o, j in hits.items())}
    return set(found.values())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (callers bound the lengths: it is quadratic)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _similar(text: str, choices: list[str]) -> int | None:
    """The one choice a short non-refusal is close to (distance <= 30 % of the longer text,
    and at most half as far as from any other), else None."""
    if len(text) > MAX_SIMILAR_CHARS or is_refusal(text):
        return None
    t = text.casefold().strip()
    scored = []
    for i, choice in enumerate(choices):
        c = choice[:MAX_SIMILAR_CHARS].casefold().strip()
        scored.append((edit_distance(t, c) / max(len(t), len(c), 1), i))
    scored.sort()
    if not scored or scored[0][0] > 0.3:
        return None
    if len(scored) > 1 and scored[1][0] < 2 * scored[0][0] + 0.05:
        return None  # about as close to another choice: no single choice is meant
    return scored[0][1]


_LETTER_OR = re.compile(r"(?<![\w'])\(?([A-Z])\)?\s*(?:,|or|/)\s*(?:option\s+)?\(?([A-Z])\)?(?![\w'])")


def choice_in_text(text: str, choices: list[str], fallback: bool = True,
                   polarity: bool = False) -> tuple[int | None, bool]:
    """(index, hedge) of the option a stated answer text names (rules 1-6); ``polarity``: an
    unmarked short response to a yes/no question may answer by its polarity."""
    hedge = _LETTER_OR.search(text)
    if hedge and hedge.group(1) != hedge.group(2) and all(
            _index(g, len(choices)) is not None for g in hedge.groups()):
        return None, True  # "either A or B"
    keys = [_choice_key(c) for c in choices]
    text = text.strip().strip("*").strip()
    raw = text.rstrip(".").strip().strip("\"'`")
    if raw in choices:  # pid 168's choice "(b)" is that text, not letter B
        return choices.index(raw), False
    index, hedge = _lead_letter(text, choices, keys)
    if index is not None or hedge:
        return index, hedge
    for candidate in (text, text.split(". ")[0], first_clause(text)):
        index = _exact(candidate, keys)
        if index is not None:
            return index, False
    index = _prefix(text, choices)
    if index is not None:
        return index, False
    letters = {(m.group(1) or m.group(2)) for m in _BRACKETED.finditer(text)}
    letters = {l for l in letters if _index(l, len(choices)) is not None}
    if len(letters) == 1:
        return _index(letters.pop(), len(choices)), False
    if len(letters) > 1:
        return None, True
    letters = {l for l in (m.group(1) for m in _BARE_LETTER.finditer(text))
               if _index(l, len(choices)) is not None}
    if len(letters) == 1:
        return _index(letters.pop(), len(choices)), False
    index = _final_letter(text, choices)
    if index is not None:
        return index, False
    if polarity:
        index = _yes_no(text, choices)
        if index is not None:
            return index, False
    named = _contained(text, choices, keys)
    if len(named) == 1:
        return named.pop(), False
    if len(named) > 1:
        return None, bool(re.search(r"\bor\b", text))
    return (_similar(text, choices), False) if fallback else (None, False)


def _last_line_choice(text: str, choices: list[str]) -> int | None:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    last = _MARKDOWN.sub("", lines[-1])
    keys = [_choice_key(c) for c in choices]
    index, hedge = _lead_letter(last, choices, keys)
    if hedge:
        return None
    if index is None:
        index = _exact(last, keys)
    if index is None:
        index = _final_letter(last, choices)
    if index is None and not is_refusal(last):
        letters = {l for l in re.findall(r"\(([A-Z])\)", last) if _index(l, len(choices)) is not None}
        index = _index(letters.pop(), len(choices)) if len(letters) == 1 else None
    return index


def _final_letter(text: str, choices: list[str]) -> int | None:
    """A letter the text ends on after a verdict word ("... I think it's B.", "So, B")."""
    m = _FINAL_LETTER.search(text[-200:])
    return _index(m.group(1), len(choices)) if m else None


_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|isn't|aren't|doesn't|don't|didn't|"
                       r"wasn't|weren't|hasn't|haven't)\b", re.IGNORECASE)
# "The text does not provide enough information": a complaint, not a "no"
_NO_INFO = re.compile(r"\b(?:provide|information|data|details|context|determine|specif\w*|please|"
                      r"question|image|text)\b", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(?:based on|according to|from|looking at|in) (?:the )?[\w ]{0,30},\s*",
                       re.IGNORECASE)


def _yes_no(text: str, choices: list[str]) -> int | None:
    """For a yes/no question: a first word "Yes"/"No", else the first sentence's polarity
    ("Periwinkle is not the maximum." answers "Is Periwinkle the maximum?" with no)."""
    keys = [c.strip().casefold() for c in choices]
    if sorted(keys) != ["no", "yes"] or is_refusal(text):
        return None
    first = re.match(r"\W*(yes|no)\b", text, re.IGNORECASE)
    if first:
        return keys.index(first.group(1).casefold())
    sentence = _PREAMBLE.sub("", re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0])
    if "?" in sentence or len(sentence) > MAX_SIMILAR_CHARS * 2 or _NO_INFO.search(sentence):
        return None
    return keys.index("no" if _NEGATION.search(sentence) else "yes")


def read_choice(response, choices: list[str], whole: bool = False) -> tuple[Answer, int | None]:
    """The answer found and the index of the option it names (None: wrong); ``whole``: read
    past invented follow-up questions too (the official protocol's stand-in for GPT)."""
    choices = [str(c) for c in choices]
    answer = find_answer(response, whole)
    if answer.hedge:
        return answer, None
    text = own_answer(response, whole).strip()
    if not whole and unfinished_thinking(response):
        text = ""  # cut off while thinking: only an explicit statement counts
    if answer.text is not None:
        index, hedge = choice_in_text(answer.text, choices)
        if hedge:
            return Answer(answer.text, answer.source, True), None
        if index is None and text:  # "the option is the one that reads D.\n\n**D**"
            index = _last_line_choice(text, choices)
        return answer, index
    if not text:
        return answer, None
    return _unstated_choice(text, choices)


def _unstated_choice(text: str, choices: list[str]) -> tuple[Answer, int | None]:
    """The option a response that states no answer names (module docstring)."""
    raw = text.rstrip(".").strip()
    if raw in choices:  # pid 168: the response "(b)" is that choice's text, not letter B
        return Answer(text, "response"), choices.index(raw)
    keys = [_choice_key(c) for c in choices]
    if len(text) > MAX_SIMILAR_CHARS:  # the response is a choice text, however long
        index = _exact(text, keys)
        if index is not None:
            return Answer(text, "response"), index
    index = _last_line_choice(text, choices)
    if index is None and len(text) <= MAX_SIMILAR_CHARS:
        index, hedge = choice_in_text(text, choices, polarity=True)
        if index is None and not hedge:
            index = _sentence_choice(text, choices, keys)
        return Answer(text, "response", hedge), None if hedge else index
    if index is None:
        index = _sentence_choice(text, choices, keys)
    if index is None:
        index = _yes_no(text, choices)
    return Answer(text[-MAX_SIMILAR_CHARS:], "last_line"), index


_NOT = re.compile(r"\b(?:not|no|never|neither|nor|cannot|isn't|aren't|wasn't|weren't|doesn't|"
                  r"don't|won't|wouldn't)\b", re.IGNORECASE)
_VALUE_MARK = re.compile(r"=|\b(?:is|are|be|equals|was|of|at|to)\b|:")


def _sentence_choice(text: str, choices: list[str], keys: list[str]) -> int | None:
    """A long response that states no answer, read as a grader (MathVista's GPT extractor)
    reads it: its last sentence, else its first, names exactly one option, by the option's
    text as whole words ("... would be the fish population") or by the option's value
    ("Therefore, x = 130.0" for "130°"). Sentences with a negation or naming several options
    name nothing; yes/no questions are left to their polarity."""
    if sorted(k.casefold() for k in keys) == ["no", "yes"]:
        return None
    parts = sentences(text[-4000:])
    head = sentences(text[:600])
    for sentence in ([parts[-1]] if parts else []) + head[:1]:
        if is_refusal(sentence) or _NOT.search(sentence) or "?" in sentence:
            continue
        values = _choice_values(choices)
        if values is not None:  # numeric options: the value stated, not any number named
            index = _value_choice(sentence, values)  # "If AB = 8 ..., the diameter is 12."
        else:
            named = _contained(sentence, choices, keys)
            index = named.pop() if len(named) == 1 else None
        if index is not None:
            return index
    return None


def _choice_values(choices: list[str]) -> list[float] | None:
    """Each option's value when every option is one number ("50°", "4.40米", "0.30%") and the
    values differ, else None."""
    values = []
    for choice in choices:
        found = numbers_in(choice[:MAX_CHOICE_CHARS])
        if len(found) != 1 or not _NUMERIC_CHOICE.fullmatch(choice):
            return None
        values.append(found[0][1])
    return values if len(set(values)) == len(values) else None


_NUMERIC_CHOICE = re.compile(r"[\s\d.,\-+$%°a-zA-Z²³\u4e00-\u9fff]*")


def _value_choice(sentence: str, values: list[float]) -> int | None:
    """The option whose value the sentence states: the number after its last '=' or "is",
    else its only number."""
    found = numbers_in(sentence)
    marks = [m.end() for m in _VALUE_MARK.finditer(sentence)]
    after = [v for p, v in found if marks and p >= marks[-1]]
    stated = after[:1] or ([found[0][1]] if len({v for _, v in found}) == 1 else [])
    if not stated:
        return None
    hits = [i for i, v in enumerate(values) if abs(v - stated[0]) <= 1e-9 * max(1.0, abs(v))]
    return hits[0] if len(hits) == 1 else None
