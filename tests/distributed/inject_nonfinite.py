"""``gpg-vl`` with a non-finite loss injected on some ranks at one step, and each rank's step
decisions recorded (for the multi-process skip tests).

Environment: NONFINITE_STEP (the training step), NONFINITE_RANKS (comma-separated ranks).
At that step, the first update forward on those ranks returns one log-probability of -inf
(as when a sampled token's probability underflows in low precision): the loss is non-finite
while its gradient stays finite, so only a global decision keeps the ranks together.
Each rank appends ``{"step", "skipped", "nonfinite"}`` to ``OUTPUT_DIR/rank<r>.jsonl``.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

import gpg_vl.trainer.loop as loop
from gpg_vl.cli import main
from gpg_vl.models.forward import LogprobModel

STEP = int(os.environ["NONFINITE_STEP"])
RANKS = {int(r) for r in os.environ["NONFINITE_RANKS"].split(",")}
RANK = int(os.environ.get("RANK", "0"))
OUT = Path(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("train.output_dir=")))
state = {"step": 0, "injected": False}

original_forward = LogprobModel.forward
original_step = loop.train_step


def forward(self, prompt, rows, completion_ids, completion_mask, *args, **kwargs):
    logprobs = original_forward(self, prompt, rows, completion_ids, completion_mask, *args, **kwargs)  # [n, C]
    if state["step"] == STEP and RANK in RANKS and not state["injected"]:
        state["injected"] = True
        spike = torch.zeros_like(logprobs)
        spike[0, 0] = float("-inf")  # a constant: the gradient w.r.t. the log-probs stays finite
        logprobs = logprobs + spike
    return logprobs


def train_step(run):
    state["step"] += 1
    metrics = original_step(run)
    with open(OUT / f"rank{RANK}.jsonl", "a") as f:
        f.write(json.dumps({"step": state["step"], "skipped": metrics["skipped"],
                            "nonfinite": metrics.get("nonfinite", 0)}) + "\n")
    return metrics


LogprobModel.forward = forward
loop.train_step = train_step
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
