"""``report.md``: the summary as Markdown tables."""
from __future__ import annotations

from gpg_vl.eval.benchmarks.base import Benchmark


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _escape(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_report(bench: Benchmark, summary: dict) -> str:
    lines = [f"# {bench.description or bench.name}", ""]
    run = summary.get("run") or {}
    if run:
        lines += ["| run | |", "| --- | --- |"]
        lines += [f"| {_escape(k)} | {_escape(v)} |" for k, v in run.items() if v is not None]
        lines.append("")
    by_protocol = summary.get("accuracy_by_protocol") or {}
    if by_protocol:
        lines += ["| protocol | accuracy (%) |", "| --- | ---: |"]
        lines += [f"| {k}{' (reported below)' if k == summary.get('protocol') else ''} | {_pct(v)} |"
                  for k, v in by_protocol.items()]
        lines.append("")
    lines += ["| metric | value |", "| --- | --- |",
              f"| items | {summary['count']} |",
              f"| correct | {summary['correct']} |",
              f"| overall accuracy (%) | {_pct(summary['overall'])} |"]
    for key, value in summary["metrics"].items():
        if isinstance(value, float):  # fractions (accuracies, IoUs) are shown as percentages
            lines.append(f"| {_escape(key)} (%) | {_pct(value)} |")
        else:
            lines.append(f"| {_escape(key)} | {_escape(value)} |")
    lines += [f"| missing fields (scored wrong) | {summary['missing_fields']['count']} |",
              f"| empty responses (scored wrong) | {summary['empty_responses']} |",
              f"| truncated responses (scored wrong) | {summary['truncated_responses']} |",
              f"| malformed records (scored wrong) | {summary['bad_records']['count']} |",
              f"| hedged answers (scored wrong) | {summary.get('hedges', 0)} |",
              f"| unreadable prediction lines (skipped) | {len(summary.get('skipped_lines', []))} |",
              f"| duplicate ids | {summary['duplicate_ids']} |", ""]
    for key, table in summary["breakdowns"].items():
        lines += [f"## By {key}", "", f"| {key} | count | correct | accuracy (%) |",
                  "| --- | ---: | ---: | ---: |"]
        for value, cell in table.items():
            lines.append(f"| {_escape(value)} | {cell['count']} | {cell['correct']} "
                         f"| {_pct(cell['accuracy'])} |")
        lines.append("")
    problems = summary["missing_fields"]["items"]
    if problems:
        lines += ["## Records missing fields", "", "| id | missing |", "| --- | --- |"]
        lines += [f"| {_escape(p['id'])} | {', '.join(p['fields'])} |" for p in problems]
        lines.append("")
    bad = summary["bad_records"]["items"]
    if bad:
        lines += ["## Malformed records", "", "| id | error |", "| --- | --- |"]
        lines += [f"| {_escape(p['id'])} | {_escape(p['error'])} |" for p in bad]
        lines.append("")
    return "\n".join(lines)
