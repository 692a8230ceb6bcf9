"""GeoQA and SuperCLEVR counting, in R1-V's release rows ``{image_path, question, ground_truth}``.

GeoQA answers are compared by value with the shared ``math`` verifier (degrees, units,
fractions, roots, pi): R1-V's own scorer takes the leading number, so it credits "2" for
"2√{3}" (issue 4). SuperCLEVR answers are integers, judged by the shared ``counting`` verifier.
Neither release has an id column; the image path is unique per row and serves as the id.
"""
from __future__ import annotations

import math

from gpg_vl.eval.benchmarks.base import Benchmark, ItemScore, register
from gpg_vl.eval.responses import answer_span, verify
from gpg_vl.verifiers.parsing import find_numbers, parse_number
from gpg_vl.verifiers.math_answer import normalize_math_answer

# R1-V's evaluation prompt (src/eval/test_qwen2vl_geoqa.py / test_qwen2vl_counting_superclevr.py).
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
            raise ValueError(f"ground truth {record['ground_truth']!r} is not a comparable answer")
        span = answer_span(response)
        text = span if span is not None else (response or "").strip()
        correct = verify("math", text, answer=str(record["ground_truth"]))
        return ItemScore(text or None, normalize_math_answer(text) if text else None, correct)


class SuperCLEVR(Benchmark):
    name = "superclevr"
    id_field = "image_path"
    required_fields = ("question", "ground_truth")
    answer_field = "ground_truth"
    default_template = R1V_TEMPLATE
    description = "SuperCLEVR counting (integer answer match)"

    def score(self, record: dict, response: str, **options) -> ItemScore:
        if parse_number(record["ground_truth"]) is None:
            raise ValueError(f"ground truth {record['ground_truth']!r} is not a number")
        span = answer_span(response)
        if span is not None:
            text = span
        else:  # free text: its last number, as MathVista's rule
            numbers = find_numbers(response or "")
            text = _format_number(numbers[-1]) if numbers else ""
        numbers = set(find_numbers(text))
        prediction = _format_number(numbers.pop()) if len(numbers) == 1 else None
        correct = verify("counting", text, answer=record["ground_truth"])
        return ItemScore(text or None, prediction, correct)


def _format_number(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


register(GeoQA())
register(SuperCLEVR())
