"""What a benchmark is to the harness: its records, its prompt, its own check.

A benchmark module subclasses :class:`Benchmark` and registers an instance with
:func:`register`. The harness never matches on benchmark names; it asks the object for
- ``id_field``: the record's own id (``pid`` for MathVista),
- ``required_fields``: what scoring needs; a record without one is reported and scored wrong,
- ``load(data, split)``: the records, from a hub id or the benchmark's release files,
- ``problem(record)`` / ``image_refs(record, root)``: what the model is shown,
- ``score(record, response, **options)``: extraction, normalisation and the verdict (strict),
- ``score_official(record, response, **options)``: the published scorer's verdict, if ported,
- ``groups(record)``: the breakdown values an item counts under (an item may count under
  several values of one key, e.g. MathVista skills),
- ``metrics(records, rows)``: benchmark-level numbers beyond accuracy (CV-Bench's official
  overall, grounding mean/cumulative IoU).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpg_vl.eval.loading import load_records

MISSING = "(missing)"  # breakdown value of an item whose breakdown field is absent


@dataclass
class ItemScore:
    """One scored response. ``extracted`` is the answer text found in the response,
    ``prediction`` that answer normalised the benchmark's way (None when nothing usable)."""

    extracted: Any
    prediction: Any
    correct: bool
    extra: dict = field(default_factory=dict)  # e.g. iou / intersection / union for grounding


class Benchmark:
    name: str = ""
    id_field: str = "id"
    required_fields: tuple[str, ...] = ()
    breakdown_keys: tuple[str, ...] = ()
    default_split: str = "train"
    default_template: str = "{problem}"
    image_field: str = "image_path"
    answer_field: str = "answer"
    description: str = ""
    hub_id: str | None = None  # where ``--data`` may point on the Hugging Face hub
    requires_box_frame: bool = False  # scoring needs the frame boxes were written in

    # -- data -------------------------------------------------------------------------------
    def load(self, data: str, split: str | None = None) -> list[dict]:
        """Records from a hub id, a local folder, or a release file."""
        return load_records(data, split or self.default_split)

    def problem(self, record: dict) -> str:
        """The question text the prompt template receives as ``{problem}``."""
        return str(record["question"])

    def image_refs(self, record: dict, root: Path | None) -> list:
        """Images for the record: decoded images as given, paths resolved against ``root``."""
        value = record.get(self.image_field)
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        return [resolve_image(v, root) for v in values]

    def complete(self, record: dict, root: Path | None) -> dict:
        """``eval score``: fill what scoring needs from the release files (default: nothing)."""
        return record

    # -- scoring ----------------------------------------------------------------------------
    def missing_fields(self, record: dict) -> list[str]:
        return [f for f in self.required_fields if record.get(f) is None]

    def score(self, record: dict, response: str, **options) -> ItemScore:
        raise NotImplementedError

    def score_official(self, record: dict, response: str, **options) -> ItemScore | None:
        """The published scorer's verdict (``--protocol official``); None: no official port."""
        return None

    @property
    def has_official(self) -> bool:
        return type(self).score_official is not Benchmark.score_official

    def gold(self, record: dict) -> Any:
        """The reference answer as shown in scored.jsonl."""
        return record.get(self.answer_field)

    def groups(self, record: dict) -> dict[str, list[str]]:
        return {key: [str(record.get(key, MISSING))] for key in self.breakdown_keys}

    def metrics(self, records: list[dict], rows: list[dict]) -> dict:
        return {}


def resolve_image(value, root: Path | None):
    """A path string resolved against the data folder; anything else (PIL image) unchanged."""
    if isinstance(value, dict) and value.get("path") and not value.get("bytes"):
        value = value["path"]
    if isinstance(value, str):
        path = Path(value)
        if not path.is_absolute() and root is not None:
            path = root / path
        return str(path)
    return value


BENCHMARKS: dict[str, Benchmark] = {}


def register(benchmark: Benchmark) -> Benchmark:
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


def get_benchmark(name: str) -> Benchmark:
    key = name.lower().replace("-", "").replace("_", "")
    for bench in BENCHMARKS.values():
        if key == bench.name.replace("_", ""):
            return bench
    raise ValueError(f"unknown benchmark {name!r}; known: {sorted(BENCHMARKS)}")
