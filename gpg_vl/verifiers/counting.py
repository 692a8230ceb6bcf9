"""``counting``: "how many ..." answers.

Returns 1.0 when the answer holds exactly one distinct number and it equals the ground truth,
else 0.0. Numbers may be digits or words (``4``, ``4.0``, ``four``, ``twenty-one``); the same
number repeated ("4 cubes, so 4") is fine, but an answer holding two different numbers earns
nothing (issue 3) -- otherwise listing candidates ("3 or 4") would be a winning hedge. A hostile
million-digit number parses as inf and never matches.

Column: ``answer`` (an integer, or a string holding one). SuperCLEVR ground truths are 3..10.
"""
from __future__ import annotations

import math

from gpg_vl.verifiers.parsing import ANSWER_SOURCES, find_numbers, parse_number, select_answer
from gpg_vl.verifiers.registry import register_scorer


@register_scorer("counting", required=("answer",), checks={"answer_source": ANSWER_SOURCES})
def score_counting(completion: str, answer, *, answer_source: str = "block") -> float:
    """1.0 when the answer's only number equals the ground-truth count, else 0.0."""
    gold = parse_number(answer)
    if gold is None or not math.isfinite(gold):
        raise ValueError(f"ground truth {answer!r} is not a number")
    text = select_answer(completion, answer_source)
    if not text:
        return 0.0
    values = set(find_numbers(text))
    return 1.0 if len(values) == 1 and values.pop() == gold else 0.0
