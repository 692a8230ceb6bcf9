"""``choice``: multiple-choice answers.

Returns 1.0 when the answer names the correct option, else 0.0. The answer (the single answer
block, or the whole completion with ``answer_source="whole"``) may hold
- the letter: ``B``, ``(B)``, ``B.``, ``b``, ``Option B``;
- the letter with its text: ``B. 140°`` (0 when the text is that of a *different* option, so a
  hedge like ``B. 145°`` with 145° under C earns nothing);
- the choice text alone: ``140°`` (needs the ``choices`` column).
Several different letters (``A B C D``) earn nothing (issue 3).

Columns: ``answer`` (the correct letter, or the correct choice text as MathVista stores it) and
optionally ``choices`` (the option texts, in order A, B, C, ...). Choices with equal texts
(MathVista pids 587/740/781 have duplicates) are all correct when one of them is.
"""
from __future__ import annotations

import re

from gpg_vl.verifiers.parsing import (ANSWER_SOURCES, choice_text_after_letter, normalize_label,
                                      parse_choice_letter, select_answer)
from gpg_vl.verifiers.registry import register_scorer

_DEGREE_SUFFIX = re.compile(r"(?:°|\^\{?\\circ\}?|\\circ|degrees?)$")


def normalize_choice_text(text) -> str:
    """A choice text compared like a label, and with a trailing degree mark dropped."""
    label = normalize_label(str(text))
    return _DEGREE_SUFFIX.sub("", label) if len(label) < 200 else label


def _letter(index: int) -> str:
    return chr(ord("A") + index)


def matching_letters(text: str, choices) -> set[str]:
    """Letters of the options whose text equals ``text`` (after normalisation)."""
    key = normalize_choice_text(text)
    if not key:
        return set()
    return {_letter(i) for i, choice in enumerate(choices) if normalize_choice_text(choice) == key}


def correct_letters(answer, choices) -> set[str]:
    """Letters counted correct: the options whose text is ``answer``, else ``answer`` as a letter."""
    if choices is not None and not isinstance(choices, (list, tuple)):
        raise TypeError(f"choices must be a list of option texts, got {type(choices).__name__}")
    answer = str(answer).strip()
    if choices:
        by_text = matching_letters(answer, choices)
        if by_text:
            return by_text
    letter = parse_choice_letter(answer, len(choices) if choices else None)
    if letter is None:
        raise ValueError(f"answer {answer!r} is neither an option letter nor one of {choices}")
    return {letter}


@register_scorer("choice", required=("answer",), checks={"answer_source": ANSWER_SOURCES})
def score_choice(completion: str, answer, choices=None, *, answer_source: str = "block") -> float:
    """1.0 when the answer names a correct option (module docstring), else 0.0."""
    gold = correct_letters(answer, choices)
    text = select_answer(completion, answer_source)
    if not text:
        return 0.0
    letter = parse_choice_letter(text, len(choices) if choices else None)
    if letter is not None:
        rest = choice_text_after_letter(text)
        if rest and choices:
            named = matching_letters(rest, choices)
            if named and letter not in named:
                return 0.0  # "B. <text of C>": the letter and its text disagree
        return 1.0 if letter in gold else 0.0
    if not choices:
        return 0.0
    named = matching_letters(text, choices)
    return 1.0 if named and named <= gold else 0.0
