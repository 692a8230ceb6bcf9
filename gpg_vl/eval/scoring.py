"""Score a list of predictions (benchmark record + ``"response"``) and write the results.

Every prediction yields one scored row; nothing is dropped. A record missing a field that
scoring needs, an empty response and a response cut off inside its answer are all scored wrong
and counted in the summary (issue 4, "Bad input"), the first with the record's id and fields.

Outputs in ``out_dir``: ``scored.jsonl`` (one row per item), ``summary.json`` (``overall``
accuracy, counts, every breakdown, benchmark metrics) and ``report.md`` (the same as tables).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from gpg_vl.eval.benchmarks.base import MISSING, Benchmark, ItemScore
from gpg_vl.errors import BadRecord
from gpg_vl.eval.loading import write_jsonl
from gpg_vl.eval.report import render_report
from gpg_vl.eval.responses import looks_truncated


def record_id(bench: Benchmark, record: dict, index: int):
    """The record's own id, or its position ``#i`` when the id itself is missing."""
    value = record.get(bench.id_field)
    return value if value is not None else f"#{index}"


PROTOCOLS = ("strict", "official")


def _verdict(scorer, record: dict, response: str, options: dict) -> tuple[ItemScore, str | None]:
    """The scorer's ItemScore; a record it names as malformed (BadRecord) scores wrong with the
    reason. Any other exception is a bug in the scorer and propagates with its traceback."""
    try:
        return scorer(record, response, **options), None
    except BadRecord as err:
        return ItemScore(None, None, False), f"bad_record: {err}"


def score_one(bench: Benchmark, record: dict, index: int, protocol: str = "strict",
              **options) -> dict:
    """The scored row of one prediction: id, answer, extraction, prediction, verdict, status;
    ``correct`` is the verdict of ``protocol``; with an official port both verdicts are kept
    (``correct_strict``, ``correct_official``)."""
    row = {bench.id_field: record_id(bench, record, index)}
    missing = bench.missing_fields(record)
    missing += [f for f in record.get("eval_missing_fields") or [] if f not in missing]
    response = record.get("response")
    if not isinstance(response, str):
        missing.append("response")
    row["answer"] = bench.gold(record)
    if missing:
        row.update(extracted=None, prediction=None, correct=False, status="missing_fields",
                   missing_fields=missing)
        return row
    status = "ok"
    if not response.strip():
        status = "empty"
    elif record.get("truncated") or looks_truncated(response):
        status = "truncated"
    text = response if status == "ok" else ""
    item, bad = _verdict(bench.score, record, text, options)
    verdicts = {"strict": bool(item.correct) and status == "ok" and bad is None}
    if bench.has_official:
        official, bad_official = _verdict(bench.score_official, record, response, options)
        bad = bad or bad_official
        verdicts["official"] = bool(official.correct) and bad is None
        row.update(official_extracted=official.extracted, official_prediction=official.prediction)
        row.update({f"official_{key}": value for key, value in official.extra.items()})
    status = bad or status
    row.update(extracted=item.extracted, prediction=item.prediction,
               correct=verdicts.get(protocol, False), status=status, **item.extra)
    row.update({f"correct_{name}": value for name, value in verdicts.items()})
    return row


def _groups(bench: Benchmark, record: dict) -> dict[str, list[str]]:
    try:
        return bench.groups(record)
    except (TypeError, AttributeError, KeyError):
        return {key: [MISSING] for key in bench.breakdown_keys}


def summarize(bench: Benchmark, records: list[dict], rows: list[dict]) -> dict:
    """Overall accuracy, problem counts, per-breakdown counts and benchmark metrics."""
    n, correct = len(rows), sum(r["correct"] for r in rows)
    statuses = Counter(r["status"].split(":")[0] for r in rows)
    ids = Counter(json.dumps(r[bench.id_field], default=str) for r in rows)
    breakdowns: dict[str, dict[str, dict]] = {key: {} for key in bench.breakdown_keys}
    for record, row in zip(records, rows):
        for key, values in _groups(bench, record).items():
            for value in values:
                cell = breakdowns.setdefault(key, {}).setdefault(value, {"count": 0, "correct": 0})
                cell["count"] += 1
                cell["correct"] += int(row["correct"])
    for table in breakdowns.values():
        for cell in table.values():
            cell["accuracy"] = cell["correct"] / cell["count"]
    return {
        "benchmark": bench.name,
        "count": n,
        "correct": correct,
        "overall": correct / n if n else 0.0,
        "missing_fields": {
            "count": statuses["missing_fields"],
            "items": [{"id": r[bench.id_field], "fields": r["missing_fields"]}
                      for r in rows if r["status"] == "missing_fields"],
        },
        "empty_responses": statuses["empty"],
        "truncated_responses": statuses["truncated"],
        "bad_records": {"count": statuses["bad_record"],
                        "items": [{"id": r[bench.id_field], "error": r["status"]}
                                  for r in rows if r["status"].startswith("bad_record")]},
        "duplicate_ids": sum(c - 1 for c in ids.values() if c > 1),
        "metrics": bench.metrics(records, rows),
        "breakdowns": {key: dict(sorted(table.items())) for key, table in breakdowns.items()},
    }


def score_predictions(bench: Benchmark, predictions: list[dict], protocol: str = "strict",
                      **options) -> tuple[list[dict], dict]:
    """Scored rows (one per prediction, in order) and the summary."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r}; expected one of {PROTOCOLS}")
    if protocol == "official" and not bench.has_official:
        raise ValueError(f"{bench.name} has no official scorer ported; use --protocol strict")
    rows = [score_one(bench, record, i, protocol, **options) for i, record in enumerate(predictions)]
    summary = summarize(bench, predictions, rows)
    summary["protocol"] = protocol
    summary["accuracy_by_protocol"] = {
        name: sum(r.get(f"correct_{name}", False) for r in rows) / len(rows) if rows else 0.0
        for name in PROTOCOLS if name == "strict" or bench.has_official}
    summary["hedges"] = sum(bool(r.get("hedge")) for r in rows)
    return rows, summary


def write_outputs(out_dir: Path, bench: Benchmark, rows: list[dict], summary: dict) -> None:
    """``scored.jsonl``, ``summary.json`` and ``report.md`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / "scored.jsonl", rows)
    (out_dir / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render_report(bench, summary), encoding="utf-8")
