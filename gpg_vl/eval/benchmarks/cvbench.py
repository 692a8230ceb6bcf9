"""CV-Bench (nyu-visionx/CV-Bench): 2-D and 3-D vision-centric multiple choice.

The answer is an option letter ``(A)``; a response may name the letter or the option text,
read by ``gpg_vl.eval.choices`` (the same rules as MathVista's multiple choice). Accuracy per task (Count, Relation, Depth, Distance)
and per source, and the benchmark's official overall (its README):
``((acc ADE20K + acc COCO) / 2 + acc Omni3D) / 2``.

``--protocol official``: GPG's scorer (``gpg_vl.eval.official.cvbench_official``: the first
answer tag, else the whole response, read by math-verify against the letter and the choice
text). GPG reports the pooled accuracy ("Total Accuracy", the report's overall accuracy) and the
accuracy per task (the ``task`` breakdown), not the README's overall. GPG's prompt adds a
line to the record's ``prompt``: ``--prompt-template "{problem}\nOutput the thinking process in
<think> </think> and final answer in <answer> </answer> tags."``
"""
from __future__ import annotations

from pathlib import Path

from gpg_vl.eval.benchmarks.base import Benchmark, ItemScore, register
from gpg_vl.eval.loading import load_records, read_json_records
from gpg_vl.errors import BadRecord
from gpg_vl.eval.choices import read_choice
from gpg_vl.eval.official import cvbench_official
from gpg_vl.verifiers.choice import correct_letters


def source_accuracy(records: list[dict], rows: list[dict], source: str) -> float | None:
    hits = [row["correct"] for record, row in zip(records, rows) if record.get("source") == source]
    return sum(hits) / len(hits) if hits else None


class CVBench(Benchmark):
    name = "cvbench"
    hub_id = "nyu-visionx/CV-Bench"
    id_field = "idx"
    required_fields = ("answer", "choices")
    breakdown_keys = ("task", "source", "type")
    default_split = "test"
    image_field = "image"
    description = "CV-Bench (choice extraction; official overall = ((ADE20K + COCO) / 2 + Omni3D) / 2)"

    def load(self, data: str, split: str | None = None) -> list[dict]:
        """The hub dataset, or a release folder of ``test_*.jsonl`` files beside ``img/``."""
        path = Path(data)
        if path.is_dir():
            files = sorted(path.glob("*.jsonl"))
            if files:
                return [r for f in files for r in read_json_records(f)]
        return load_records(data, split or self.default_split)

    def problem(self, record: dict) -> str:
        if record.get("prompt"):
            return str(record["prompt"])
        options = "\n".join(f"({chr(65 + i)}) {c}" for i, c in enumerate(record["choices"]))
        return f"{record['question']}\n{options}"

    def image_refs(self, record: dict, root: Path | None) -> list:
        image = record.get("image")
        if image is not None and not isinstance(image, str):
            return super().image_refs(record, root)
        return super().image_refs({"image": image or record.get("filename")}, root)

    def score(self, record: dict, response: str, **options) -> ItemScore:
        choices = [str(c) for c in record["choices"]]
        try:
            gold = correct_letters(str(record["answer"]), choices)
        except (ValueError, TypeError) as err:
            raise BadRecord(str(err)) from None
        answer, index = read_choice(response, choices)
        letter = chr(ord("A") + index) if index is not None else None
        return ItemScore(answer.text, f"({letter})" if letter else None, letter in gold,
                         {"hedge": True} if answer.hedge else {})

    def score_official(self, record: dict, response: str, **options) -> ItemScore:
        tag, parsed, correct = cvbench_official(record, response)
        return ItemScore(tag, parsed or None, correct)

    def metrics(self, records: list[dict], rows: list[dict]) -> dict:
        accs = {s: source_accuracy(records, rows, s) for s in ("ADE20K", "COCO", "Omni3D")}
        if any(a is None for a in accs.values()):
            return {}  # the official overall needs all three sources
        acc_2d = (accs["ADE20K"] + accs["COCO"]) / 2
        return {"accuracy_2d": acc_2d, "accuracy_3d": accs["Omni3D"],
                "official_overall": (acc_2d + accs["Omni3D"]) / 2}


register(CVBench())
