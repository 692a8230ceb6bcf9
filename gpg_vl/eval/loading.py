"""Reading benchmark records and prediction files.

Hub ids, local folders and parquet/csv files go through ``datasets.load_dataset``. Local
``.json`` / ``.jsonl`` release files are read with the standard library instead: release JSON
such as MathVista's ``testmini.json`` is a mapping ``pid -> record`` that ``load_dataset``
cannot read, and fields of mixed type (MathVista answers are strings, except two lists) must
reach the scorer as released, not coerced to one Arrow type.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

_LOCAL_FORMATS = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


def read_json_records(path: Path) -> list[dict]:
    """Records of a ``.json`` (list, or mapping id -> record) or ``.jsonl`` file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict):
        return list(data.values())
    if isinstance(data, list):
        return data
    raise ValueError(f"{path}: expected a list of records or a mapping id -> record")


def load_records(data: str, split: str | None = None) -> list[dict]:
    """Records from a local release file, a local folder or a hub id (``split`` for the latter)."""
    path = Path(data)
    if path.is_file() and path.suffix in (".json", ".jsonl"):
        return read_json_records(path)
    import datasets

    if path.is_file():
        fmt = _LOCAL_FORMATS.get(path.suffix)
        if fmt is None:
            raise ValueError(f"{path}: unsupported file type {path.suffix!r}")
        ds = datasets.load_dataset(fmt, data_files=str(path), split="train")
    else:
        ds = datasets.load_dataset(str(data), split=split)
    return [dict(row) for row in ds]


def jsonable(record: dict) -> dict:
    """The record without decoded images or raw bytes, ready for a JSON line."""
    out = {}
    for key, value in record.items():
        if _is_binary(value):
            continue
        out[key] = value
    return out


def _is_binary(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray)):
        return True
    if isinstance(value, dict) and isinstance(value.get("bytes"), (bytes, bytearray)):
        return True
    return type(value).__module__.startswith("PIL.")


def read_jsonl(path: Path) -> list[dict]:
    """Lines of a JSON-lines file; a torn last line (a crash mid-write) is ignored."""
    rows = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise ValueError(f"{path}:{i + 1}: not a JSON line") from None
    return rows


def read_prediction_lines(path: Path) -> tuple[list[dict], list[str]]:
    """Prediction objects of a JSON-lines file, and ``file:line: reason`` for every line that
    is not one (invalid UTF-8 or JSON, not an object): those are reported and skipped."""
    rows, skipped = [], []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                skipped.append(f"{path}:{number}: invalid UTF-8")
                continue
            except json.JSONDecodeError as err:
                skipped.append(f"{path}:{number}: not JSON ({err.msg})")
                continue
            if not isinstance(row, dict):
                skipped.append(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
                continue
            rows.append(row)
    return rows, skipped


def write_jsonl(path: Path, rows: Iterable[dict], mode: str = "w") -> None:
    with open(path, mode, encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        fh.flush()
