"""Agreement of gpg-vl's scorers with recorded official verdicts on real model responses.

    python -m gpg_vl.eval.agreement --testmini testmini.json OUTPUT.json [OUTPUT.json ...]

Each OUTPUT.json is a MathVista results file as the official repository releases them
(lupantech/MathVista ``results/<model>/output_<model>.json``: pid -> record + ``response``,
the GPT ``extraction`` and the official ``true_false``). The recorded extraction is withheld:
gpg-vl reads the raw response with its rules, under both protocols, and each verdict is
compared with ``true_false``. Rows with an empty response are left aside, as the judging rule
says. Program-of-thought runs (``*_code*`` files) are read from the program's output
(``execution``), as the official pipeline reads them. Prints one line per file: agreement and accuracies (official recorded, strict, official
with rules); ``--disagreements N`` prints the first N rows that differ.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from gpg_vl.eval.benchmarks import get_benchmark
from gpg_vl.eval.scoring import score_predictions


def _truth(value) -> bool:
    return value is True or str(value).strip().lower() == "true"


def compare(records: dict[str, dict], outputs: dict[str, dict], protocol: str = "strict",
            label: str = "response") -> tuple[dict, list[dict]]:
    """Figures for one results file, and its rows that disagree under ``protocol``. ``label``:
    the field holding the text to read (``execution`` for program-of-thought runs, as the
    official ``extract_answer.py --response_label execution``)."""
    bench = get_benchmark("mathvista")
    pids = [pid for pid, row in outputs.items()
            if pid in records and isinstance(row.get(label), str) and row[label].strip()]
    preds = [dict(records[pid], response=outputs[pid][label]) for pid in pids]
    rows, _ = score_predictions(bench, preds)
    truth = [_truth(outputs[pid].get("true_false")) for pid in pids]
    n = len(pids)
    figures = {"rows": n, "official_recorded": sum(truth) / n}
    for proto in ("strict", "official"):
        verdicts = [r[f"correct_{proto}"] for r in rows]
        figures[f"agree_{proto}"] = sum(v == t for v, t in zip(verdicts, truth)) / n
        figures[f"acc_{proto}"] = sum(verdicts) / n
    key = f"correct_{protocol}"
    diffs = [{"pid": pid, "truth": t, protocol: r[key], "extracted": r["extracted"],
              "official_extracted": r.get("official_extracted"),
              "recorded_extraction": outputs[pid].get("extraction"), "answer": records[pid]["answer"],
              "response": outputs[pid][label][-300:]}
             for pid, r, t in zip(pids, rows, truth) if r[key] != t]
    return figures, diffs


def r1v_logs(paths: list[Path]) -> None:
    """Agreement of the official GeoQA / SuperCLEVR ports with R1-V's released eval logs
    (``src/eval/logs/*.json``: question, ground truth, model output, verdict)."""
    for path in paths:
        name = "geoqa" if "geoqa" in path.name else "superclevr"
        bench = get_benchmark(name)
        rows = json.loads(path.read_text(encoding="utf-8"))["results"]
        agree = strict = 0
        for row in rows:
            record = dict(row["question"], ground_truth=row["ground_truth"])
            truth = (bool(row["is_correct"]) if "is_correct" in row else  # counting logs: recompute
                     row.get("extracted_answer") is not None and row["extracted_answer"] == row["ground_truth"])
            agree += bench.score_official(record, row["model_output"]).correct == truth
            strict += bench.score(record, row["model_output"]).correct
        print(f"| {path.stem} | {name} | {len(rows)} | {agree}/{len(rows)} | {100 * strict / len(rows):.1f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outputs", nargs="+", type=Path)
    parser.add_argument("--testmini", help="MathVista data/testmini.json")
    parser.add_argument("--disagreements", type=int, default=0)
    parser.add_argument("--protocol", default="strict", help="whose disagreements to print")
    parser.add_argument("--held-out", default="",
                        help="comma-separated results files (stems) kept out of rule development")
    parser.add_argument("--r1v", action="store_true",
                        help="the files are R1-V eval logs: check the GeoQA / SuperCLEVR ports")
    args = parser.parse_args(argv)
    if args.r1v:
        print("| log | benchmark | rows | official port agrees | strict acc |")
        print("| --- | --- | ---: | ---: | ---: |")
        r1v_logs(args.outputs)
        return 0
    records = {r["pid"]: r for r in get_benchmark("mathvista").load(args.testmini)}
    held_out = set(args.held_out.split(",")) if args.held_out else set()
    groups: dict[str, list[float]] = {}
    print("| results file | group | rows | official acc (recorded) | strict acc | official (rules) acc "
          "| official - recorded | agreement strict | agreement official |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path in args.outputs:
        label = "execution" if "_code" in path.stem else "response"  # program-of-thought runs
        group = "program" if label == "execution" else "held-out" if path.stem in held_out else "tuned"
        figures, diffs = compare(records, json.loads(path.read_text(encoding="utf-8")),
                                 args.protocol, label)
        f = figures
        print(f"| {path.stem} | {group} | {f['rows']} | {100 * f['official_recorded']:.1f} | "
              f"{100 * f['acc_strict']:.1f} | {100 * f['acc_official']:.1f} | "
              f"{100 * (f['acc_official'] - f['official_recorded']):+.1f} | "
              f"{100 * f['agree_strict']:.1f} | {100 * f['agree_official']:.1f} |")
        for name in (group, "all") if group == "program" else (group, "tuned + held-out", "all"):
            total = groups.setdefault(name, [0, 0.0, 0.0])
            total[0] += f["rows"]
            total[1] += f["agree_strict"] * f["rows"]
            total[2] += f["agree_official"] * f["rows"]
        for d in diffs[:args.disagreements]:
            print("   ", json.dumps(d, ensure_ascii=False))
    for name, (n, strict, official) in groups.items():
        print(f"| {name} | | {n} | | | | | {100 * strict / n:.2f} | {100 * official / n:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
