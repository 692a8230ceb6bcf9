"""MathVista testmini, scored by rules instead of the official GPT extractor.

Normalisation follows the official scorer (lupantech/MathVista, evaluation/calculate_score.py,
``normalize_extracted_answer``) with its known faults fixed:
- multiple choice: a choice letter maps to its choice text, other text to the closest choice by
  edit distance; an empty extraction is wrong instead of being mapped to some choice; a
  response that *is* a choice text is taken as that text first, so pid 168's choice "(b)" is
  not re-read as letter B (the official ``\\(([a-zA-Z])\\)`` rule does that);
- integer: ``int(float(x))``;
- float: rounded to the record's ``precision``, which the Hugging Face copy gives as ``1.0``:
  ``round(x, 1.0)`` raises, which is why lmms-eval scores all 40 float items wrong (issue 4);
- list: compared as a list of numbers, so "[2014,2016]" matches the stored text "[2014, 2016]"
  (VLMEvalKit scores the two list items wrong whatever the response).

Extraction, by rule: the stated answer (``<answer>`` block, ``\\boxed{}``, "The answer is ...",
see ``gpg_vl.eval.responses.answer_span``), else for multiple choice the choice or letter the
response ends on, and for numbers the last number of the response.
"""
from __future__ import annotations

import re
from pathlib import Path

from gpg_vl.eval.benchmarks.base import MISSING, Benchmark, ItemScore, register
from gpg_vl.eval.loading import load_records, read_json_records
from gpg_vl.eval.responses import answer_span, edit_distance
from gpg_vl.verifiers.parsing import find_numbers, parse_choice_letter, parse_number

MAX_DISTANCE_CHARS = 2000
METADATA_KEYS = ("task", "skills", "grade", "language", "source", "category", "context")


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
        items = list(value)
    elif isinstance(value, str):
        inner = value.strip().strip("$").strip()
        if inner[:1] in "[(" and inner[-1:] in "])":
            inner = inner[1:-1]
        items = [p for p in re.split(r"[,;]\s*|\s+", inner) if p]
    else:
        return None
    numbers = [parse_number(v) for v in items]
    return None if not numbers or any(n is None for n in numbers) else numbers


def _choice_text(text: str, choices: list[str]) -> str | None:
    """The choice that ``text`` is, up to surrounding space, quotes and a final period."""
    candidates = {text, text.strip().rstrip(".").strip(), text.strip().strip("\"'`*").strip()}
    for choice in choices:
        if choice in candidates or choice.strip() in candidates:
            return choice
    return None


def normalize_choice(extracted: str, choices: list[str]) -> str | None:
    """Official multiple-choice normalisation: exact choice, else letter, else closest text."""
    if not extracted:
        return None  # the official scorer would map "" to the closest (shortest) choice
    exact = _choice_text(extracted, choices)
    if exact is not None:
        return exact
    letter = parse_choice_letter(extracted, len(choices))
    if letter is not None:
        return choices[ord(letter) - ord("A")]
    text = extracted[:MAX_DISTANCE_CHARS]  # bounded work on hostile output
    return min(choices, key=lambda choice: edit_distance(text, choice))


def choice_in_free_text(text: str, choices: list[str]) -> str:
    """The choice a response without a stated answer ends on (the query asks for the letter
    "at the end"): the whole text or its last line when that is a choice or a letter form,
    else a final capital letter ("... so the correct option is B."), else the whole text."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for candidate in (text, lines[-1] if lines else ""):
        if _choice_text(candidate, choices) or parse_choice_letter(candidate, len(choices)):
            return candidate
    last = re.search(r"\b([A-Z])\W*$", lines[-1]) if lines else None
    if last and parse_choice_letter(last.group(1), len(choices)):
        return last.group(1)
    return text


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
        if record.get("decoded_image") is not None:
            return [record["decoded_image"]]
        return super().image_refs(record, root)

    # -- scoring ----------------------------------------------------------------------------
    def missing_fields(self, record: dict) -> list[str]:
        missing = super().missing_fields(record)
        if record.get("question_type") == "multi_choice" and not record.get("choices"):
            missing.append("choices")
        if not record.get("query") and record.get("question") is None:
            missing.append("question")
        return missing

    def score(self, record: dict, response: str, **options) -> ItemScore:
        span = answer_span(response)
        text = span if span is not None else (response or "").strip()
        if record["question_type"] == "multi_choice":
            choices = [str(c) for c in record["choices"]]
            extracted = text if span is not None else choice_in_free_text(text, choices)
            pred = normalize_choice(extracted, choices)
            return ItemScore(extracted or None, pred, pred is not None and pred == str(record["answer"]))
        answer_type = record["answer_type"]
        if answer_type == "list":
            pred = _number_list(text)
            if pred is None:  # free text: the last bracketed list in it
                lists = re.findall(r"\[[^\[\]]*\]", text)
                pred = _number_list(lists[-1]) if lists else None
            gold = _number_list(record["answer"])
            return ItemScore(text or None, pred, pred is not None and pred == gold)
        number = parse_number(text)
        if number is None:
            numbers = find_numbers(text)
            number = numbers[-1] if numbers else None
        pred = _normalize_number(number, answer_type, record)
        gold = _normalize_number(parse_number(str(record["answer"])), answer_type, record)
        return ItemScore(number, pred, pred is not None and pred == gold)

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
            import json

            queries = json.loads(path.read_text(encoding="utf-8"))
            for record in records:
                if "query" not in record and str(record.get("pid")) in queries:
                    record["query"] = queries[str(record["pid"])]
            break
    return records


register(MathVista())
