"""GeoQA and SuperCLEVR counting, in R1-V's release rows ``{image_path, question, ground_truth}``.

strict: the answer is read by ``gpg_vl.eval.extract`` (tags, boxed, "the answer is", else the
last line; hedges wrong), the same rule on both. GeoQA answers are compared by value with the
shared ``math`` verifier (degrees, units, fractions, roots, pi); SuperCLEVR answers are
integers. official: R1-V's own scorers (``gpg_vl.eval.official``).
Neither release has an id column; the image path is unique per row and serves as the id.
"""
from __future__ import annotations

import math
import re

from gpg_vl.errors import BadRecord
from gpg_vl.eval.benchmarks.base import Benchmark, ItemScore, register
from gpg_vl.eval.extract import find_answer, first_clause, numbers_in, own_answer, read_number
from gpg_vl.eval.official import geoqa_official, math_is_bounded, superclevr_official
from gpg_vl.eval.responses import verify
from gpg_vl.verifiers.math_answer import normalize_math_answer

# R1-V's evaluation prompt (src/eval/test_qwen2vl_geoqa.py / test_qwen2vl_counting_superclevr.py).
MAX_ANSWER_CHARS = 80
_VALUE = re.compile(r"[\d√π]|\\(?:frac|sqrt|pi)")
_PLAIN = re.compile(r"-?\d{1,15}(?:\.\d{1,15})?")
R1V_TEMPLATE = ("{problem} Output the thinking process in <think> </think> and final answer "
                "(number) in <answer> </answer> tags.")


class GeoQA(Benchmark):
    name = "geoqa"
    id_field = "image_path"
    required_fields = ("question", "ground_truth")
    answer_field = "ground_truth"
    default_template = R1V_TEMPLATE
    description = "GeoQA test (answers compared by value with the math verifier)"

    def score(self, record: dict, response: str, **options) -> ItemScore:
        if normalize_math_answer(str(record["ground_truth"])) is None:
            raise BadRecord(f"ground truth {record['ground_truth']!r} is not a comparable answer")
        answer = find_answer(response)
        if answer.hedge:
            return ItemScore(None, None, False, {"hedge": True})
        if answer.text is not None:
            text = first_clause(answer.text) if answer.source == "statement" else answer.text
        else:  # no statement: the last line, as a grader reads an unmarked answer
            lines = [ln for ln in own_answer(response).strip().splitlines() if ln.strip()]
            text = first_clause(lines[-1]) if lines else ""
        return ItemScore(text or None, normalize_math_answer(text) if text else None,
                         _geoqa_equal(text, str(record["ground_truth"])))

    def score_official(self, record: dict, response: str, **options) -> ItemScore:
        extracted, correct = geoqa_official(record, response)
        return ItemScore(extracted, extracted, correct)


def _geoqa_equal(text: str, gold: str) -> bool:
    """Value equality. GeoQA answers are short plain values (17 characters at most): a plain
    number on both sides compares directly; text holding no value, longer than
    MAX_ANSWER_CHARS or costly for sympy (``math_is_bounded``) is no match; the rest goes to
    the shared ``math`` verifier (degrees, units, fractions, roots, pi)."""
    if not text or len(text) > MAX_ANSWER_CHARS or _VALUE.search(text) is None:
        return False
    plain = [normalize_math_answer(t) for t in (text, gold)]
    if all(p is not None and _PLAIN.fullmatch(p) for p in plain):
        return float(plain[0]) == float(plain[1])
    return math_is_bounded(text) and verify("math", text, answer=gold)


class SuperCLEVR(Benchmark):
    name = "superclevr"
    id_field = "image_path"
    required_fields = ("question", "ground_truth")
    answer_field = "ground_truth"
    default_template = R1V_TEMPLATE
    description = "SuperCLEVR counting (integer answer match)"

    def score(self, record: dict, response: str, **options) -> ItemScore:
        gold = numbers_in(str(record["ground_truth"]))
        if len(gold) != 1:
            raise BadRecord(f"ground truth {record['ground_truth']!r} is not a number")
        answer, value = read_number(response)
        prediction = _format_number(value) if value is not None else None
        correct = value is not None and value == gold[0][1]
        return ItemScore(answer.text, prediction, correct, {"hedge": True} if answer.hedge else {})

    def score_official(self, record: dict, response: str, **options) -> ItemScore:
        if len(numbers_in(str(record["ground_truth"]))) != 1:
            raise BadRecord(f"ground truth {record['ground_truth']!r} is not a number")
        value, correct = superclevr_official(record, response)
        return ItemScore(value, value, correct)


def _format_number(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


register(GeoQA())
register(SuperCLEVR())
