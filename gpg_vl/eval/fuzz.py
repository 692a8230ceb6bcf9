"""Hostile-input run of every benchmark scorer, in a worker thread (no alarm can fire there).

    python -m gpg_vl.eval.fuzz [--per-scorer 10000] [--seed 0]

For each benchmark and each protocol it ports, ``--per-scorer`` hostile responses (over-long
digit runs, unclosed and repeated tags and boxes, power towers, nested functions, 200,000
characters of brackets, NUL bytes, lone surrogates ...) are scored against a valid record, and
a few hostile records (a 200,000-character MathVista choice, a malformed LISA box) with them.
Prints one line per scorer: calls, exceptions (anything but a BadRecord), the slowest call.
Exit status 1 when any call raised or took over 1 s.
"""
from __future__ import annotations

import argparse
import random
import threading
import time

from gpg_vl.errors import BadRecord
from gpg_vl.eval.benchmarks import get_benchmark

LIMIT_S = 1.0
_PIECES = ["<answer>", "</answer>", "\\boxed{", "}", "{", "(", ")", "[", "]", "The answer is ",
           "Answer:", " or ", "A", "B", "(C)", "9" * 40, "-", "\u2212", ",", ".", "1/0", "^{9^{9}}",
           "\\exp{", "\\sin(9999^{9999})", "\\frac{1}{0}", "√", "π", "°", "\x00", "\ud800", " ",
           "\n", "(1,1)", "[1, 2, 3, 4]", "e", "%", "$", "\\sqrt{", "Question:", "yes", "no"]
_BIG = ["(" * 200_000, "9" * 200_000, "<answer>" * 20_000, "\\boxed{" * 20_000,
        "(1,1)" + " " * 60_000 + "x", "<answer>\\exp{\\exp{\\exp{99}}}</answer>",
        "<answer>\\sin(9999^{9999})</answer>", "The answer is " * 10_000, "A or " * 40_000,
        "[" + "1, " * 50_000 + "]", "x" * 200_000]


def hostile_responses(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = list(_BIG)
    while len(out) < n:
        k = rng.choice([3, 10, 50, 400])
        text = "".join(rng.choice(_PIECES) for _ in range(k))
        out.append(text * rng.choice([1, 1, 1, 50]))
    return out[:n]


def _records(mathvista_record: dict) -> dict[str, list[dict]]:
    """A valid record per benchmark, and hostile ones where a benchmark reads record text."""
    huge_choice = dict(mathvista_record, choices=["x" * 200_000, "B text", "C", "D"],
                       answer="B text", question_type="multi_choice", answer_type="text")
    return {
        "mathvista": [mathvista_record, huge_choice],
        "geoqa": [{"image_path": "a.png", "question": "q", "ground_truth": "2√{3}"}],
        "superclevr": [{"image_path": "a.png", "question": "q", "ground_truth": "5"}],
        "cvbench": [{"idx": 0, "answer": "(B)", "choices": ["1", "2", "3", "4"], "question": "q"}],
        "classification": [{"id": "x", "solution": "<answer>daisy</answer>"}],
        "lisa": [{"image_path": "a.png", "boxes": [[10, 10, 50, 50]], "image_size": [100, 100],
                  "box_frame": "qwen2_vl"},
                 {"image_path": "b.png", "boxes": [["x", 1, 2, 3]], "image_size": [100, 100],
                  "box_frame": "qwen2_vl"}],
        "samples": [{"id": "m", "task": "math", "answer": "2√{3}"},
                    {"id": "c", "task": "choice", "answer": "B", "choices": ["1", "2", "3"]},
                    {"id": "g", "task": "grounding", "bbox": [1, 1, 9, 9], "image_size": [10, 10]}],
    }


def run_scorer(scorer, records: list[dict], responses: list[str]) -> dict:
    """Call ``scorer`` on every (record, response) in a worker thread; calls/errors/max time."""
    stats = {"calls": 0, "errors": [], "max_s": 0.0, "slow": 0}

    def work():
        for response in responses:
            for record in records:
                start = time.perf_counter()
                try:
                    scorer(record, response)
                except BadRecord:
                    pass
                except Exception as err:  # noqa: BLE001 - counted and reported: the point
                    stats["errors"].append(f"{type(err).__name__}: {str(err)[:120]}")
                took = time.perf_counter() - start
                stats["calls"] += 1
                stats["max_s"] = max(stats["max_s"], took)
                stats["slow"] += took > LIMIT_S

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join()
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-scorer", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--testmini", help="MathVista testmini.json (a built-in record otherwise)")
    parser.add_argument("--only", help="one benchmark's scorers only")
    args = parser.parse_args(argv)
    record = {"pid": "1", "question_type": "free_form", "answer_type": "float", "precision": 1,
              "answer": "1.2", "question": "q", "choices": None}
    if args.testmini:
        record = get_benchmark("mathvista").load(args.testmini)[0]
    responses = hostile_responses(args.per_scorer, args.seed)
    from gpg_vl.verifiers.math_answer import warm_up

    warm_up()  # sympy's first import (~1 s) is start-up, not a scoring call
    failed = False
    for name, records in _records(record).items():
        if args.only and name != args.only:
            continue
        bench = get_benchmark(name)
        scorers = {"strict": bench.score}
        if bench.has_official:
            scorers["official"] = bench.score_official
        for protocol, scorer in scorers.items():
            stats = run_scorer(scorer, records, responses)
            failed |= bool(stats["errors"]) or stats["slow"] > 0
            print(flush=True, end="")
            print(f"{name:15s} {protocol:8s} calls {stats['calls']:6d}  exceptions "
                  f"{len(stats['errors'])}  over {LIMIT_S:g}s {stats['slow']}  slowest "
                  f"{stats['max_s'] * 1000:.1f} ms")
            for err in stats["errors"][:3]:
                print("    ", err)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
