"""The sample schema: one dict per prompt, read by the trainer, the verifiers and the evaluation.

Every dataset, whatever its source columns, becomes dicts with these fields (adapters and
``column_map`` do the translation; see data/README.md). Verifiers read fields by name, so a
field means the same thing everywhere:

==============  ==============================================================================
field           meaning
==============  ==============================================================================
id              str, unique within the data set; defaults to "<file>:<row index>"
images          list of image references: absolute path, path relative to the data file's
                folder (or ``image_root``), PIL image, or {"bytes", "path"} dict (embedded)
problem         str, the question text shown to the model
answer          str | None, the ground truth (class label, count, math answer, choice letter)
task            str, the task kind: classification, counting, grounding, math, choice, ...
bbox            optional [x1, y1, x2, y2] in ORIGINAL pixels of the upright (EXIF-applied) image
image_size      optional [W, H] of that image; required with bbox (verifiers map boxes with it)
choices         optional list[str], the options of a multiple-choice question, in letter order
labels          optional list[str], the class label set of a classification data set
aliases         optional dict[str, list[str]]: an answer -> other strings that count as it
resized_size    optional [W, H] the processor resized the image to, when it was recorded
==============  ==============================================================================

Other keys pass through untouched (TRL-style reward functions receive every column).
"""
from __future__ import annotations

import math
from typing import Any

from gpg_vl.errors import DataError

FIELDS = ("id", "images", "problem", "answer", "task")
OPTIONAL_FIELDS = ("bbox", "image_size", "choices", "labels", "aliases", "resized_size")
BASE_REQUIRED = ("id", "images", "problem", "task")
# Fields a task's verifier cannot work without (beyond BASE_REQUIRED). Unknown tasks need only
# the base fields: a custom verifier declares its own requirements.
TASK_REQUIRED = {
    "classification": ("answer",),
    "counting": ("answer",),
    "math": ("answer",),
    "choice": ("answer",),
    "grounding": ("bbox", "image_size"),
}
BOX_TOLERANCE = 1.0  # pixels a box may stick out of the image (rounding in the source data)
ROW_REPR_LIMIT = 600  # characters of a row shown in an error


class SchemaError(DataError):
    """A row that does not fit the schema; the message names the data, the row and the field."""


class MissingColumnError(SchemaError):
    """A source column an adapter or column_map needs is absent (raised by :func:`column`)."""

    def __init__(self, name: str, available):
        self.column, self.available = name, sorted(available)
        super().__init__(f"column {name!r} not found; columns present: {self.available}")


def column(row: dict, name: str) -> Any:
    """``row[name]``, or a MissingColumnError that lists the columns that do exist."""
    if name not in row:
        raise MissingColumnError(name, row.keys())
    return row[name]


def required_fields(task: str | None) -> tuple[str, ...]:
    """The fields a sample of ``task`` must have (non-None)."""
    return BASE_REQUIRED + TASK_REQUIRED.get(task or "", ())


def _short(value: Any, limit: int = 80) -> str:
    """A value's repr with bytes and images summarised and long text cut (for error messages)."""
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if type(value).__module__.startswith("PIL."):
        return f"<PIL image {getattr(value, 'mode', '?')} {getattr(value, 'size', '?')}>"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_short(v, limit)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_short(v, limit) for v in list(value)[:8])
        return "[" + inner + (", ..." if len(value) > 8 else "") + "]"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_row(row: Any, limit: int = ROW_REPR_LIMIT) -> str:
    """A row for an error message: readable, bounded, never a wall of image bytes."""
    text = _short(row)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(source: str, index: int | None, field: str, problem: str, row: Any) -> SchemaError:
    where = f"{source}, row {index}" if index is not None else source
    return SchemaError(f"{where}: field {field!r} {problem}; row: {format_row(row)}")


def _check_pair(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value))


def _check_box(sample: dict) -> str | None:
    """Why ``sample['bbox']`` is unusable, or None. Out-of-image boxes usually mean the box is in
    another frame (0-1000 or resized pixels) than the schema's original pixels."""
    box = sample["bbox"]
    if not (isinstance(box, (list, tuple)) and len(box) == 4
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)):
        return "must be 4 finite numbers [x1, y1, x2, y2]"
    x1, y1, x2, y2 = box
    if not (x1 < x2 and y1 < y2):
        return f"must satisfy x1 < x2 and y1 < y2, got {list(box)}"
    size = sample.get("image_size")
    if _check_pair(size):
        w, h = size
        t = BOX_TOLERANCE
        if x1 < -t or y1 < -t or x2 > w + t or y2 > h + t:
            return (f"{list(box)} lies outside the image {list(size)} (boxes are in original "
                    "pixels; a box in 0-1000 or resized coordinates needs converting)")
    return None


def _check_optional(sample: dict) -> tuple[str, str] | None:
    """(field, problem) for the first malformed optional field, or None."""
    for key in ("image_size", "resized_size"):
        if sample.get(key) is not None and not _check_pair(sample[key]):
            return key, f"must be [W, H] with positive numbers, got {sample[key]!r}"
    if sample.get("bbox") is not None:
        problem = _check_box(sample)
        if problem:
            return "bbox", problem
    for key in ("choices", "labels"):
        value = sample.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return key, "must be a list of strings"
    aliases = sample.get("aliases")
    if aliases is not None and not (isinstance(aliases, dict) and all(
            isinstance(k, str) and isinstance(v, list) for k, v in aliases.items())):
        return "aliases", "must map an answer string to a list of strings"
    return None


def validate_sample(row: dict, *, source: str = "<data>", index: int | None = None,
                    required: tuple[str, ...] | None = None) -> dict:
    """Check one sample against the schema; return it unchanged or raise SchemaError.

    ``required`` defaults to :func:`required_fields` of the row's task. The error names the data
    source, the row index and the field, and shows the row (truncated).
    """
    if not isinstance(row, dict):
        raise SchemaError(f"{source}, row {index}: expected a dict, got {type(row).__name__}")
    for name in required if required is not None else required_fields(row.get("task")):
        if row.get(name) is None:
            raise _fail(source, index, name, f"is missing (required for task {row.get('task')!r})", row)
    for name in ("id", "problem", "task"):
        if name in row and not (isinstance(row[name], str) and row[name].strip()):
            raise _fail(source, index, name, "must be a non-empty string", row)
    images = row.get("images")
    if images is not None and not (isinstance(images, list) and images):
        raise _fail(source, index, "images", "must be a non-empty list of image references", row)
    if row.get("answer") is not None and not isinstance(row["answer"], str):
        raise _fail(source, index, "answer", "must be a string or None", row)
    bad = _check_optional(row)
    if bad:
        raise _fail(source, index, bad[0], bad[1], row)
    return row
