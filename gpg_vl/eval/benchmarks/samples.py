"""Your own data: a held-out split in the project's sample schema (gpg_vl/data/schema.py).

Rows ``{id, images, problem, answer, task, ...}`` (JSON lines or a JSON list) are scored by the
verifier of their ``task``, the one training rewards with: choice, math, counting,
classification, and grounding (``grounding_iou``, correct at IoU >= 0.5, mean IoU reported).
The answer is read from free text by ``gpg_vl.eval.extract`` like every benchmark's (stated
answer first, hedges wrong, else a short response or the last line), then judged whole.
Accuracy per task.
"""
from __future__ import annotations

from pathlib import Path

from gpg_vl.errors import BadRecord, InputError
from gpg_vl.eval.benchmarks.base import Benchmark, ItemScore, register
from gpg_vl.eval.extract import MAX_SIMILAR_CHARS, find_answer, first_clause, own_answer
from gpg_vl.eval.loading import read_json_records
from gpg_vl.eval.official import math_is_bounded
from gpg_vl.eval.responses import whole_answer_verifier

VERIFIERS = {"choice": "choice", "math": "math", "counting": "counting",
             "classification": "classification", "grounding": "grounding_iou"}
COLUMNS = ("answer", "choices", "labels", "aliases", "bbox", "image_size", "resized_size")
IOU_THRESHOLD = 0.5
MAX_TEXT_CHARS = 2000
MAX_MATH_CHARS = 300


def answer_text(response: str, keep_clause: bool) -> tuple[str | None, bool]:
    """(text the verifier judges, hedge): the stated answer (its first clause unless it came
    from tags or a box), else a short response, else its last line."""
    answer = find_answer(response)
    if answer.hedge:
        return None, True
    if answer.text is not None:
        text = answer.text if keep_clause or answer.source != "statement" else first_clause(answer.text)
        return text, False
    text = own_answer(response).strip()
    if len(text) <= MAX_SIMILAR_CHARS:
        return text, False
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[-1].strip().strip("*") if lines else None), False


class Samples(Benchmark):
    name = "samples"
    id_field = "id"
    required_fields = ("task",)
    breakdown_keys = ("task",)
    image_field = "images"
    default_template = "{problem}"
    description = "Your own data in the sample schema (each task's training verifier)"

    def load(self, data: str, split: str | None = None) -> list[dict]:
        path = Path(data)
        if not path.is_file() or path.suffix not in (".json", ".jsonl"):
            raise InputError(f"{data}: expected a .jsonl / .json file of sample-schema rows")
        return read_json_records(path)

    def problem(self, record: dict) -> str:
        return str(record["problem"])

    def missing_fields(self, record: dict) -> list[str]:
        missing = super().missing_fields(record)
        needs = ("bbox", "image_size") if record.get("task") == "grounding" else ("answer",)
        return missing + [f for f in needs if record.get(f) is None]

    def score(self, record: dict, response: str, *, box_frame: str | None = None, **_) -> ItemScore:
        task = record["task"]
        if task not in VERIFIERS:
            raise BadRecord(f"task {task!r} has no verifier here; expected one of {sorted(VERIFIERS)}")
        text, hedge = answer_text(response, keep_clause=task == "grounding")
        if hedge or not text:
            extra = {"hedge": True} if hedge else {}
            return ItemScore(None, None, False, {**extra, "iou": 0.0} if task == "grounding" else extra)
        text = text[:MAX_TEXT_CHARS]  # the box parse is not linear; no answer is this long
        if task == "math" and (len(text) > MAX_MATH_CHARS or not math_is_bounded(text)):
            return ItemScore(text, None, False)  # sympy would evaluate it exactly (unbounded)
        options = {"frame": box_frame or record.get("box_frame") or "qwen2_vl"} if task == "grounding" else {}
        verifier = whole_answer_verifier(VERIFIERS[task], **options)
        columns = {k: [record[k]] for k in COLUMNS if record.get(k) is not None}
        try:
            reward = verifier(None, [text], **columns)[0]
        except (ValueError, TypeError) as err:  # the verifier's own check of the row's fields
            raise BadRecord(f"{task} row: {err}") from None
        reward = float(reward or 0.0)
        if task == "grounding":
            return ItemScore(text, reward, reward >= IOU_THRESHOLD, {"iou": reward})
        return ItemScore(text, text, reward >= 1.0)

    def metrics(self, records: list[dict], rows: list[dict]) -> dict:
        ious = [row.get("iou", 0.0) for record, row in zip(records, rows) if record.get("task") == "grounding"]
        return {"grounding_box_mean_iou": sum(ious) / len(ious)} if ious else {}


register(Samples())
