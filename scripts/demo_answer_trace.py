"""Diagnostic for the embedded demo: how each task's sampled answers move during RL.

Reads a run's samples.jsonl written with every sample logged
(`gpg-vl demo --out DIR train.log_samples_every=1 train.log_samples=512`) and prints, per window
of steps and task, the mean task reward, the share of degenerate groups (every sample scored
the same: no gradient) and the most sampled answers. An answer whose share falls to 0 is never
sampled again, so policy-gradient training cannot bring it back; a window where one answer
takes nearly every sample whatever the image is the image-blind collapse.

    python scripts/demo_answer_trace.py DIR/samples.jsonl [--window 10] [--task grounding]
"""
from __future__ import annotations

import argparse
import collections
import json

TASK_REWARD = {"classification": "classification", "counting": "counting", "grounding": "grounding_iou"}


def answer_of(completion: str) -> str:
    return completion.replace("<answer>", "").replace("</answer>", "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("samples")
    ap.add_argument("--window", type=int, default=10, help="steps per printed line")
    ap.add_argument("--task", action="append", choices=sorted(TASK_REWARD), help="only these tasks")
    ap.add_argument("--top", type=int, default=4, help="answers shown per line")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.samples)]
    for task in args.task or sorted(TASK_REWARD):
        key = TASK_REWARD[task]
        windows = collections.defaultdict(list)
        for r in rows:
            if r["task"] == task:
                windows[(r["step"] - 1) // args.window].append(r)
        print(f"== {task}")
        for w in sorted(windows):
            rs = windows[w]
            groups = collections.defaultdict(list)
            for r in rs:
                groups[(r["step"], r["id"])].append(r["reward"])
            degenerate = sum(max(g) == min(g) for g in groups.values()) / len(groups)
            mean = sum(r[key] or 0.0 for r in rs) / len(rs)
            shares = collections.Counter(answer_of(r["completion"]) for r in rs).most_common(args.top)
            print(f"steps {w * args.window + 1:4d}+ samples {len(rs):4d} {key} {mean:.2f} "
                  f"degenerate {degenerate:.2f} | " + "  ".join(f"{a} {n / len(rs):.2f}" for a, n in shares))


if __name__ == "__main__":
    main()
