"""MathVista testmini: ``--protocol strict`` (gpg-vl's rule, default) or ``official``.

strict: the answer is read from free text by ``gpg_vl.eval.extract`` / ``gpg_vl.eval.choices``
(stated answer first, hedges and refusals wrong, similarity only for short responses close to
one choice); multiple choice compares the named option's text with the answer; integers and
floats compare values (floats rounded to the record's ``precision``, which the hub copy gives
as ``1.0``); list answers compare as lists of numbers ("[2014,2016]" = "[2014, 2016]").

official: ``gpg_vl.eval.official.mathvista_official``, the released normaliser with its quirks
(an empty extraction mapped to the closest choice, integer truncation, the hub copy's float
precision raising, list answers compared as text); the recorded GPT ``extraction`` is used when
a prediction line carries one.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from gpg_vl.eval.benchmarks.base import MISSING, Benchmark, ItemScore, register
from gpg_vl.eval.choices import read_choice
from gpg_vl.eval.extract import numbers_in, read_number
from gpg_vl.eval.loading import load_records, read_json_records
from gpg_vl.eval.official import mathvista_official

METADATA_KEYS = ("task", "skills", "grade", "language", "source", "category", "context")
MAX_LIST_CHARS = 2000


def _precision(record: dict) -> int:
    """Decimal places of a float answer: the record's precision (1, 1.0, "2"), else the answer's."""
    value = record.get("precision")
    if value is not None:
        return int(float(value))
    text = str(record.get("answer", ""))
    return len(text.split(".", 1)[1]) if "." in text else 0


def _number_list(value) -> list[float] | None:
    """A list answer as numbers: a JSON list, or text such as "[2014, 2016]" / "2014, 2016"."""
    if isinstance(value, (list, tuple)):
        numbers = [float(v) if isinstance(v, (int, float)) else None for v in value]
        return None if not numbers or None in numbers else numbers
    if not isinstance(value, str):
        return None
    text = value[:MAX_LIST_CHARS]
    lists = re.findall(r"\[[^\[\]]*\]", text)
    if lists:
        text = lists[-1]
    numbers = [v for _, v in numbers_in(text.replace(", ", " , "))]
    return numbers or None


class MathVista(Benchmark):
    name = "mathvista"
    hub_id = "AI4Math/MathVista"
    id_field = "pid"
    required_fields = ("pid", "question_type", "answer_type", "answer")
    breakdown_keys = ("question_type", "answer_type") + METADATA_KEYS
    default_split = "testmini"
    default_template = "{problem}"
    image_field = "image"
    description = "MathVista testmini (rule-based extraction, official normalisation)"

    # -- data -------------------------------------------------------------------------------
    def load(self, data: str, split: str | None = None) -> list[dict]:
        """Release JSON (``testmini.json`` + its query file), a folder holding it, or the hub."""
        split = split or self.default_split
        path = Path(data)
        if path.is_dir():
            for candidate in (path / f"{split}.json", path / "data" / f"{split}.json"):
                if candidate.is_file():
                    path = candidate
                    break
        if path.is_file() and path.suffix == ".json":
            records = read_json_records(path)
            return _attach_queries(records, path.parent, path.stem)
        return load_records(data, split)

    def problem(self, record: dict) -> str:
        """The official prompt ("query") when present, else the question with its choices."""
        if record.get("query"):
            return str(record["query"])
        text = str(record["question"])
        if record.get("choices"):
            letters = [f"({chr(65 + i)}) {c}" for i, c in enumerate(record["choices"])]
            text += "\nChoices:\n" + "\n".join(letters)
        return text

    def image_refs(self, record: dict, root: Path | None) -> list:
        """The hub copy's decoded image, else ``image`` ("images/1.jpg") under ``root``, or
        under ``root/data`` (the GitHub layout: data/testmini.json, data/images/)."""
        if record.get("decoded_image") is not None:
            return [record["decoded_image"]]
        refs = super().image_refs(record, root)
        if root is not None and refs and isinstance(refs[0], str) and not Path(refs[0]).exists():
            in_data = super().image_refs(record, Path(root) / "data")
            if Path(in_data[0]).exists():
                return in_data
        return refs

    # -- scoring ----------------------------------------------------------------------------
    def missing_fields(self, record: dict) -> list[str]:
        missing = super().missing_fields(record)
        if record.get("question_type") == "multi_choice" and not record.get("choices"):
            missing.append("choices")
        if not record.get("query") and record.get("question") is None:
            missing.append("question")
        return missing

    def score(self, record: dict, response: str, **options) -> ItemScore:
        if record["question_type"] == "multi_choice":
            choices = [str(c) for c in record["choices"]]
            answer, index = read_choice(response, choices)
            pred = choices[index] if index is not None else None
            return ItemScore(answer.text, pred, pred is not None and pred == str(record["answer"]),
                             {"hedge": True} if answer.hedge else {})
        answer_type = record["answer_type"]
        answer, number = read_number(response)
        extra = {"hedge": True} if answer.hedge else {}
        if answer_type == "list":
            pred = None if answer.hedge else _number_list(answer.text)
            gold = _number_list(record["answer"] if not isinstance(record["answer"], str)
                                else record["answer"])
            return ItemScore(answer.text, pred, pred is not None and pred == gold, extra)
        pred = _normalize_number(number, answer_type, record)
        gold = _normalize_number(_gold_number(record["answer"]), answer_type, record)
        if gold is None:
            raise ValueError(f"answer {record['answer']!r} is not a number")
        return ItemScore(answer.text, pred, pred is not None and pred == gold, extra)

    def score_official(self, record: dict, response: str, **options) -> ItemScore:
        extraction, pred, correct = mathvista_official(record, response)
        return ItemScore(extraction, pred, correct)

    def groups(self, record: dict) -> dict[str, list[str]]:
        meta = record.get("metadata") or {}
        out = {}
        for key in self.breakdown_keys:
            value = record.get(key, meta.get(key))
            if value is None:
                out[key] = [MISSING]
            elif isinstance(value, (list, tuple)):
                out[key] = [str(v) for v in value] or [MISSING]
            else:
                out[key] = [str(value)]
        return out


def _gold_number(answer) -> float | None:
    nums = numbers_in(str(answer))
    return nums[0][1] if len(nums) == 1 else None


def _normalize_number(number: float | None, answer_type: str, record: dict) -> str | None:
    """``int(float(x))`` for integers, ``round(x, precision)`` for floats, as strings."""
    if number is None or number != number or number in (float("inf"), float("-inf")):
        return None
    if answer_type == "integer":
        return str(int(number))
    if answer_type == "float":
        value = round(number, _precision(record))
        return str(value + 0.0)  # -0.0 -> 0.0
    return str(number)


def _attach_queries(records: list[dict], folder: Path, stem: str) -> list[dict]:
    """Add the official prompt from ``query_<split>.json`` / ``query.json`` beside the release."""
    for name in (f"query_{stem}.json", "query.json"):
        path = folder / name
        if path.is_file():
            queries = json.loads(path.read_text(encoding="utf-8"))
            for record in records:
                if "query" not in record and str(record.get("pid")) in queries:
                    record["query"] = queries[str(record["pid"])]
            break
    return records


register(MathVista())
