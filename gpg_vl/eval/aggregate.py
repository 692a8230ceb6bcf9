"""``gpg-vl eval report DIR...``: one table across benchmarks and runs.

Reads ``summary.json`` of each run folder and writes into ``--out``: ``report.md`` (one row per
run: benchmark, model, protocol, rows, both protocols' accuracies, the benchmark's own metrics;
then each benchmark's leaderboard breakdowns with one column per run), ``report.csv`` (the
first table) and ``report.png`` (accuracy per run, grouped by benchmark).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from gpg_vl.errors import InputError

# The breakdowns each benchmark's leaderboard reports (MathVista: task and skills; CV-Bench:
# task and source; classification: one column per dataset).
LEADERBOARD = {"mathvista": ("task", "skills"), "cvbench": ("task", "source"),
               "classification": ("dataset",)}
COLUMNS = ("run", "benchmark", "model", "protocol", "rows", "accuracy", "strict", "official", "metrics")


def load_runs(dirs: list[Path]) -> list[dict]:
    runs = []
    for folder in dirs:
        path = Path(folder) / "summary.json"
        if not path.is_file():
            raise InputError(f"{folder}: no summary.json (not a gpg-vl eval output folder)")
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise InputError(f"{path}: not JSON ({err.msg})") from None
        if not isinstance(summary, dict) or "benchmark" not in summary or "overall" not in summary:
            raise InputError(f"{path}: not a gpg-vl eval summary (no benchmark / overall)")
        runs.append({"name": Path(folder).name, "summary": summary})
    return runs


def _pct(value) -> str:
    return f"{100 * value:.2f}" if isinstance(value, (int, float)) else ""


def run_row(run: dict) -> dict:
    s = run["summary"]
    info = s.get("run") or {}
    by = s.get("accuracy_by_protocol") or {}
    metrics = "; ".join(f"{k} {_pct(v)}" for k, v in (s.get("metrics") or {}).items()
                        if isinstance(v, float))
    return {"run": run["name"], "benchmark": s["benchmark"], "model": info.get("model", ""),
            "protocol": s.get("protocol", "strict"), "rows": info.get("rows_used", s.get("count")),
            "accuracy": _pct(s["overall"]), "strict": _pct(by.get("strict")),
            "official": _pct(by.get("official")), "metrics": metrics}


def _md_row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def render(runs: list[dict]) -> str:
    lines = ["# Evaluation report", "", _md_row(COLUMNS), _md_row(["---"] * len(COLUMNS))]
    lines += [_md_row(run_row(r).values()) for r in runs]
    for bench in sorted({r["summary"]["benchmark"] for r in runs}):
        mine = [r for r in runs if r["summary"]["benchmark"] == bench]
        for key in LEADERBOARD.get(bench, ()):
            values = sorted({v for r in mine for v in r["summary"].get("breakdowns", {}).get(key, {})})
            if not values:
                continue
            lines += ["", f"## {bench}: accuracy (%) by {key}", "",
                      _md_row([key] + [r["name"] for r in mine]), _md_row(["---"] * (len(mine) + 1))]
            for value in values:
                cells = [_pct(r["summary"]["breakdowns"].get(key, {}).get(value, {}).get("accuracy"))
                         for r in mine]
                lines.append(_md_row([value] + cells))
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = sorted({r["summary"]["benchmark"] for r in runs})
    names = list(dict.fromkeys(r["name"] for r in runs))
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(benches) * max(1, len(names)) ** 0.5), 4))
    for i, name in enumerate(names):
        xs, ys = [], []
        for j, bench in enumerate(benches):
            hit = [r for r in runs if r["name"] == name and r["summary"]["benchmark"] == bench]
            if hit:
                xs.append(j + i * width)
                ys.append(100 * hit[0]["summary"]["overall"])
        ax.bar(xs, ys, width, label=name)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(benches))], benches)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(dirs: list[Path], out: Path) -> list[Path]:
    runs = load_runs(dirs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(render(runs), encoding="utf-8")
    with open(out / "report.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(run_row(r) for r in runs)
    plot(runs, out / "report.png")
    return [out / "report.md", out / "report.csv", out / "report.png"]
