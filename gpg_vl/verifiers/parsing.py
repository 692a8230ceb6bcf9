"""The one parsing layer every verifier (and the evaluation harness) reads model output through.

Model output is hostile input (issue 3): it may be 100k characters of anything, hold NUL bytes,
lone surrogates, unclosed tags or a million-digit number. Every function here therefore
- never calls ``eval``/``exec``,
- runs in time linear in the input (regexes are anchored on a literal or bounded, brace matching
  is one stack pass), and
- turns numbers too long to be an answer into ``math.inf`` instead of converting them, so a
  hostile number can never match a real one.

Public helpers: :func:`completion_text`, :func:`extract_answer_block`, :func:`extract_boxed`,
:func:`extract_answer_phrase`, :func:`parse_number`, :func:`find_numbers`, :func:`parse_boxes`,
:func:`parse_choice_letter`, :func:`normalize_label`.
"""
from __future__ import annotations

import math
import re
import unicodedata

MAX_NUMBER_DIGITS = 30  # a longer digit run is no answer anyone gives; it parses as inf
MAX_NUMBERS = 1000  # find_numbers stops collecting after this many
MAX_BOXES = 100  # parse_boxes stops collecting after this many
MAX_LABEL_CHARS = 1000  # longer text is not a label (normalize_label returns "")

_ANSWER_TAG = re.compile(r"<(/?)answer>", re.IGNORECASE)


def completion_text(completion) -> str:
    """The text of one completion: a plain string, or TRL's conversational form.

    The conversational form is a list of messages ``{"role", "content"}``; the last message's
    content is taken (content may itself be a list of ``{"type": "text", "text": ...}`` parts).
    Anything else becomes "" so that a malformed completion scores 0 instead of raising.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content
                           if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def extract_answer_block(text: str) -> str | None:
    """The stripped content of the single ``<answer>...</answer>`` block, else None.

    Exactly one opening and one closing tag (case-insensitive), opening first. Repeated tags
    return None: R1-V-style regexes take the first of several blocks, which lets a policy hedge
    with ``<answer>A</answer><answer>B</answer>`` (issue 3).
    """
    if not isinstance(text, str):
        return None
    tags = []
    for m in _ANSWER_TAG.finditer(text):
        tags.append(m)
        if len(tags) > 2:
            return None
    if len(tags) != 2 or tags[0].group(1) or not tags[1].group(1):
        return None
    return text[tags[0].end():tags[1].start()].strip()


ANSWER_SOURCES = ("block", "whole")


def select_answer(text: str, answer_source: str = "block") -> str | None:
    """The text an accuracy verifier judges: the single answer block, or the whole completion.

    ``block`` (default): :func:`extract_answer_block` (None without exactly one block);
    ``whole``: the stripped completion, for answer-only prompts that ask for no tags.
    """
    if answer_source == "block":
        return extract_answer_block(text)
    if answer_source == "whole":
        return text.strip() if isinstance(text, str) else None
    raise ValueError(f"answer_source must be one of {ANSWER_SOURCES}, got {answer_source!r}")


_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def _matching_braces(text: str) -> dict[int, int]:
    """Index of each ``{`` -> index of its matching ``}``, in one stack pass (unmatched omitted)."""
    stack: list[int] = []
    match: dict[int, int] = {}
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            match[stack.pop()] = i
    return match


def extract_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) whose braces balance."""
    if not isinstance(text, str) or "\\" not in text:
        return None
    starts = [m.end() - 1 for m in _BOXED.finditer(text)]
    if not starts:
        return None
    match = _matching_braces(text)
    for brace in reversed(starts):
        if brace in match:
            return text[brace + 1:match[brace]].strip()
    return None


# "The answer is X", "Final answer: X", "Answer: X"; only literal words before the bounded gaps.
_ANSWER_PHRASE = re.compile(r"\b(?:final\s)?answer(?:[ \t]is|[ \t]*:)[ \t]*", re.IGNORECASE)


def extract_answer_phrase(text: str) -> str | None:
    """The text after the last "The answer is" / "Answer:" up to the end of its line, else None.

    Markdown bold, ``$`` wrappers and a sentence-final period are removed ("3.5." -> "3.5").
    """
    if not isinstance(text, str):
        return None
    last = None
    for last in _ANSWER_PHRASE.finditer(text):
        pass
    if last is None:
        return None
    end = text.find("\n", last.end())
    phrase = text[last.end():end if end >= 0 else len(text)].strip()
    phrase = phrase.strip("*").strip()
    if phrase.endswith(".") and not phrase.endswith(".."):
        phrase = phrase[:-1].rstrip()
    phrase = phrase.strip("$").strip()
    return phrase or None


_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
_UNITS = r"one|two|three|four|five|six|seven|eight|nine"
_TENS = r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_WORD_NUMBER = rf"(?:(?:{_TENS})-(?:{_UNITS})|{'|'.join(sorted(_NUMBER_WORDS, key=len, reverse=True))})"
# A decimal with optional thousands separators, or a simple fraction a/b; never preceded by a
# word character or '.', so "v2" or the "5" of "1.5" are not numbers of their own.
_DIGITS = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_NUMBER = re.compile(
    rf"(?<![\w.]){_DIGITS}(?:/\d+)?(?![\w.]\d)|\b{_WORD_NUMBER}\b", re.IGNORECASE)
_FRAC = re.compile(r"-?\\[dt]?frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}")


def _word_value(word: str) -> float:
    word = word.lower()
    if "-" in word:
        tens, units = word.split("-", 1)
        return float(_NUMBER_WORDS[tens] + _NUMBER_WORDS[units])
    return float(_NUMBER_WORDS[word])


def _token_value(token: str) -> float | None:
    """A matched number token -> float; an over-long digit run -> inf (never converted)."""
    token = token.replace(",", "")
    if len(token) > MAX_NUMBER_DIGITS:
        return math.inf
    if token[:1].isalpha():
        return _word_value(token)
    if "/" in token:
        num, den = token.split("/", 1)
        return float(num) / float(den) if float(den) != 0 else None
    return float(token)


def parse_number(s) -> float | None:
    """The value of a string that is exactly one number, else None.

    Accepts ``4``, ``-4.0``, ``1,000``, ``1/2``, ``\\frac{1}{2}``, ``four``, ``twenty-one``,
    surrounded by whitespace or ``$`` and with a final period. Numbers pass through
    (bools do not). A digit run longer than MAX_NUMBER_DIGITS gives inf.
    """
    if isinstance(s, bool):
        return None
    if isinstance(s, (int, float)):
        return float(s) if math.isfinite(s) else None
    if not isinstance(s, str):
        return None
    s = s.strip().strip("$").strip()
    if s.endswith("."):
        s = s[:-1]
    if len(s) > 4 * MAX_NUMBER_DIGITS:
        return math.inf if s.isdigit() else None
    frac = _FRAC.fullmatch(s)
    if frac:
        den = float(frac.group(2))
        value = float(frac.group(1)) / den if den else None
        return -value if value is not None and s.startswith("-") else value
    m = _NUMBER.fullmatch(s)
    return _token_value(m.group(0)) if m else None


def find_numbers(s: str) -> list[float]:
    """Every number in ``s``, in order: digits, decimals, ``a/b``, ``\\frac{a}{b}``, number words.

    Over-long digit runs appear as inf, so an answer holding one never looks like a plain count.
    At most MAX_NUMBERS are returned.
    """
    if not isinstance(s, str):
        return []
    values: list[float] = []
    if "frac" in s:
        for m in _FRAC.finditer(s):
            values.append(parse_number(m.group(0)))
        s = _FRAC.sub(" ", s)
    for m in _NUMBER.finditer(s):
        if len(values) >= MAX_NUMBERS:
            break
        values.append(_token_value(m.group(0)))
    return [v for v in values if v is not None]


_BOX_NUM = r"(-?\d+(?:\.\d+)?)"
_SEP = r"(?:[ \t]*+,[ \t]*+|[ \t]++)"
_BOX_PATTERNS = (
    # [x1, y1, x2, y2] (JSON bbox_2d of Qwen2.5-VL, or plain lists; commas or spaces)
    re.compile(rf"\[[ \t]*+{_BOX_NUM}{_SEP}{_BOX_NUM}{_SEP}{_BOX_NUM}{_SEP}{_BOX_NUM}[ \t]*+\]"),
    # (x1,y1),(x2,y2) (Qwen2-VL's native <|box_start|>(x1,y1),(x2,y2)<|box_end|>)
    # Possessive runs (Python 3.11): a failed match never retries the split of one run of spaces
    # between two quantifiers, which made "(1,1)" + 60,000 spaces + "x" quadratic.
    re.compile(rf"\([ \t]*+{_BOX_NUM}[ \t]*+,[ \t]*+{_BOX_NUM}[ \t]*+\)[ \t]*+(?:,[ \t]*+)?"
               rf"\([ \t]*+{_BOX_NUM}[ \t]*+,[ \t]*+{_BOX_NUM}[ \t]*+\)"),
)


def parse_boxes(s: str) -> list[tuple[float, float, float, float]]:
    """Every box in ``s`` as (x1, y1, x2, y2) floats, in order of appearance.

    Forms: ``[x1, y1, x2, y2]`` and ``(x1,y1),(x2,y2)``, integers or decimals. A box with a
    coordinate longer than MAX_NUMBER_DIGITS characters is dropped. Coordinates are returned as
    written (no frame conversion, no reordering): callers decide what a reversed box means.
    """
    if not isinstance(s, str):
        return []
    found: list[tuple[int, tuple[float, float, float, float]]] = []
    for pattern in _BOX_PATTERNS:
        for m in pattern.finditer(s):
            if len(found) >= MAX_BOXES:
                break
            coords = m.groups()
            if any(len(c) > MAX_NUMBER_DIGITS for c in coords):
                continue
            found.append((m.start(), tuple(float(c) for c in coords)))
    return [box for _, box in sorted(found, key=lambda item: item[0])]


_LETTER_PREFIX = re.compile(
    r"(?:the\s+)?(?:correct\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:：]?\s*", re.IGNORECASE)
_LETTER_ALONE = re.compile(r"[(\[]?([A-Za-z])[)\]]?[.:)]?")
_LETTER_WITH_TEXT = re.compile(r"[(\[]?([A-Za-z])(?:[)\]][.:]?|[.:])\s*(\S.*)", re.DOTALL)


def parse_choice_letter(s: str, n_choices: int | None = None) -> str | None:
    """The single option letter an answer names, upper-cased, else None.

    Accepts ``B``, ``(B)``, ``B.``, ``b``, ``[B]``, ``Option B``, and a letter followed by its
    text (``B. 140°``; the text is not checked here). Several letters (``A B C D``), a letter
    outside the first ``n_choices`` (when given) or free text return None. The choice verifier
    matches answers that hold only the choice text.
    """
    if not isinstance(s, str):
        return None
    s = s.strip().strip("*$").strip()
    s = s[_LETTER_PREFIX.match(s).end():] if _LETTER_PREFIX.match(s) else s
    m = _LETTER_ALONE.fullmatch(s) or _LETTER_WITH_TEXT.fullmatch(s)
    if not m:
        return None
    letter = m.group(1).upper()
    if n_choices is not None and not 0 <= ord(letter) - ord("A") < n_choices:
        return None
    return letter


def choice_text_after_letter(s: str) -> str | None:
    """The text after a leading option letter (``B. 140°`` -> ``140°``), else None."""
    if not isinstance(s, str):
        return None
    s = s.strip().strip("*$").strip()
    m = _LETTER_WITH_TEXT.fullmatch(s)
    return m.group(2).strip() if m else None


_LABEL_DROP = re.compile(r"[\s_\-]+")
_LABEL_EDGE_PUNCT = ".,;:!?\"'`*$()[]{}"


def normalize_label(s) -> str:
    """A label compared insensitive to case, whitespace, ``_`` and ``-`` (issue 3).

    Unicode is NFKC-normalised and case-folded; punctuation at either end (quotes, a final
    period) is dropped. Text longer than MAX_LABEL_CHARS is not a label and gives "".
    """
    if not isinstance(s, str) or len(s) > MAX_LABEL_CHARS:
        return ""
    s = unicodedata.normalize("NFKC", s).casefold()
    s = _LABEL_DROP.sub("", s)
    return s.strip(_LABEL_EDGE_PUNCT)
