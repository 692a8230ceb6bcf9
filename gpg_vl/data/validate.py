"""Checks that make "passes loading" mean "trains": every row is checked for what the run will
later need from it, before any weight loads.

- JSONL files are read line by line first: a malformed line, a line that is not a JSON object, or
  a field whose type differs from the rest of the file (the file's majority type wins, so one
  mistyped row never makes the error blame a valid one) is named by file and line, then skipped
  and counted, or refused (``data.on_bad_row``). An empty file is an error.
- Each sample: no vision special token (``<|image_pad|>`` ...) in any text field (the processor
  would expand it into image tokens that no image fills), no column a reward function receives
  as an argument (``prompts``, ``completions`` ...).
- Images (``data/images.py``): regular readable files only (a FIFO would block the loader), and
  the processor's aspect-ratio limit.
- Prompt length: limited by default (the tokenizer's ``model_max_length``, else
  ``DEFAULT_PROMPT_LIMIT``), so a 1 MB problem is a skipped row, not an 810 GB allocation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gpg_vl.data.schema import SchemaError
from gpg_vl.data.skips import SkipCounter

# Names TRL (and gpg-vl) pass to reward functions as keyword arguments; a data column of the same
# name would collide with them ("got multiple values for argument 'completions'").
RESERVED_COLUMNS = ("prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric")
DEFAULT_PROMPT_LIMIT = 16384  # tokens, when the tokenizer does not state its context
MAX_LINE_REPORT = 200  # characters of a bad line quoted in a message


class BadRowError(SchemaError):
    """A data row that cannot be trained on, named by file, row and field."""


def vision_tokens() -> tuple[str, ...]:
    """The special tokens only the processor may place (the model family module owns them)."""
    from gpg_vl.families import VISION_TOKENS

    return tuple(VISION_TOKENS)


@dataclass
class BadRowCounter(SkipCounter):
    """Raise (``"error"``) or skip, count and log (``"skip"``) rows that fail a check."""

    def record(self, message: str) -> None:
        if self.policy == "error":
            raise BadRowError(message + " (data.on_bad_row=skip drops such rows instead)")
        self.skip(message)

    def summary(self) -> str:
        return f"skipped {self.skipped} bad row(s)" if self.skipped else "no bad rows"


def _kind(value) -> str | None:
    """The JSON type of a value as Arrow would unify it (ints and floats are both numbers)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    kinds = {_kind(v) for v in value} - {None}
    return "list of " + (kinds.pop() if len(kinds) == 1 else "mixed" if kinds else "anything")


def _compatible(kind: str, majority: str) -> bool:
    return kind == majority or (kind == "list of anything" and majority.startswith("list of"))


def _json_lines(path: Path):
    """(line number, parsed value or the parse error, raw line) for each non-blank line."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.strip()
            if line:
                try:
                    yield number, json.loads(line), line
                except (ValueError, UnicodeDecodeError) as exc:
                    yield number, exc, line


def _json_array(path: Path):
    """A ``.json`` file holding one array: its items, numbered as rows (1-based)."""
    try:
        items = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(items, list):
        raise SchemaError(f"{path}: a .json data file holds an array of rows or one row per line, "
                          f"got a JSON {type(items).__name__}")
    return [(number, item, b"") for number, item in enumerate(items, start=1)]


def read_jsonl(path: Path, counter: BadRowCounter) -> list[dict] | None:
    """Check a JSONL file line by line (or a ``.json`` array item by item). None when every row is
    good (the caller loads the file as usual); else the good rows, the bad ones recorded in
    ``counter``."""
    rows: list[tuple[int, dict]] = []
    bad = 0
    with path.open("rb") as f:
        head = f.read(4096).lstrip()
    entries = _json_array(path) if path.suffix.lower() == ".json" and head[:1] == b"[" else _json_lines(path)
    where = "item" if path.suffix.lower() == ".json" and head[:1] == b"[" else "line"
    for number, row, line in entries:
        if isinstance(row, Exception):
            counter.record(f"{path}, line {number}: not valid JSON ({row}): {line[:MAX_LINE_REPORT]!r}")
            bad += 1
        elif not isinstance(row, dict):
            counter.record(f"{path}, {where} {number}: a row must be a JSON object, got {type(row).__name__}")
            bad += 1
        else:
            rows.append((number, row))
    if not rows and not bad:
        raise SchemaError(f"{path}: the file is empty (no rows)")
    mistyped = _mistyped(rows, path, where)
    for number, message in mistyped:
        counter.record(message)
    if not bad and not mistyped:
        return None
    skip = {number for number, _ in mistyped}
    good = [row for number, row in rows if number not in skip]
    if not good:
        raise SchemaError(f"{path}: no usable rows ({counter.summary()}; first: {counter.messages[:1]})")
    return good


def _mistyped(rows: list[tuple[int, dict]], path: Path, where: str = "line") -> list[tuple[int, str]]:
    """Lines whose field type differs from the type most lines give that field."""
    counts: dict[str, dict[str, int]] = {}
    first: dict[tuple[str, str], int] = {}
    for number, row in rows:
        for key, value in row.items():
            kind = _kind(value)
            if kind is not None:
                counts.setdefault(key, {}).setdefault(kind, 0)
                counts[key][kind] += 1
                first.setdefault((key, kind), number)
    majority = {key: max(kinds, key=lambda k: (kinds[k], -first[(key, k)])) for key, kinds in counts.items()}
    out = []
    for number, row in rows:
        for key, value in row.items():
            kind = _kind(value)
            if kind is not None and not _compatible(kind, majority[key]):
                out.append((number, f"{path}, {where} {number}: field {key!r} is a {kind} here, but a "
                                    f"{majority[key]} in most rows (first in {where} {first[(key, majority[key])]})"))
                break
    return out


def _strings(value, path: str):
    """(field path, text) for every string inside ``value``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def check_sample(sample: dict) -> str | None:
    """What is wrong with a mapped sample (naming the field), or None."""
    tokens = vision_tokens()
    for key, value in sample.items():
        if key == "images":
            continue
        for where, text in _strings(value, key):
            if "<|" in text:
                found = next((t for t in tokens if t in text), None)
                if found is not None:
                    return (f"field {where!r} holds the vision special token {found} (only the processor may "
                            "place it: the prompt would have image tokens no image fills)")
    return None


def check_columns(sample: dict, source: str) -> None:
    """A column named like a reward function's argument is refused for the whole data set."""
    clash = [k for k in sample if k in RESERVED_COLUMNS]
    if clash:
        raise SchemaError(f"{source}: column {clash[0]!r} is reserved (reward functions receive "
                          f"{', '.join(RESERVED_COLUMNS)} as arguments); rename it or drop it "
                          "(data.column_map maps other names onto schema fields)")


def default_prompt_limit(processor) -> int:
    """The prompt-length limit when data.max_prompt_length is null: the tokenizer's context."""
    tokenizer = getattr(processor, "tokenizer", processor)
    context = getattr(tokenizer, "model_max_length", None)
    if isinstance(context, int) and 0 < context < 10_000_000:
        return context
    return DEFAULT_PROMPT_LIMIT


def resize_factor(processor) -> int:
    """Pixels per merged vision token side (patch size x merge size), from the image processor."""
    ip = getattr(processor, "image_processor", None)
    return int(getattr(ip, "patch_size", 14) * getattr(ip, "merge_size", 2))


def check_resizable(processor, sample: dict, sizes: list, min_pixels: int | None, max_pixels: int | None) -> None:
    """Each image goes through the resize rule the encoder applies (qwen_vl_utils' smart_resize,
    with the run's pixel limits): an aspect ratio over its limit, or a side that rounds to 0 px
    under a small ``max_pixels`` (3x500 with 112x112 pixels), fails there mid-run; here it is a bad
    image named with its row."""
    from qwen_vl_utils.vision_process import smart_resize

    from gpg_vl.data.images import ImageLoadError, describe_ref

    limits = {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v is not None}
    for ref, (w, h) in zip(sample.get("images") or [], sizes):
        try:
            rh, rw = smart_resize(int(h), int(w), resize_factor(processor), **limits)
        except (ValueError, AssertionError, ZeroDivisionError) as exc:
            raise ImageLoadError(describe_ref(ref), f"the image processor refuses {w}x{h}: {exc}") from None
        if rh <= 0 or rw <= 0:
            raise ImageLoadError(describe_ref(ref), f"{w}x{h} resizes to {rw}x{rh} px under the pixel limits "
                                 f"{limits or 'of the processor'}: too elongated for that pixel budget")
