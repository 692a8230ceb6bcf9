"""``gpg-vl train`` with two test-only probes (the micro-batch boundary tests launch it).

1. Recomputation count: each rank appends ``{"step", "recomputed"}`` to
   ``OUTPUT_DIR/probe_rank<r>.jsonl``, ``recomputed`` being how many decoder-layer / vision-block
   forwards ran inside backward at that step (gradient checkpointing recomputing them). A run
   without ``model.gradient_checkpointing`` counts 0, so the count shows that checkpointing was
   really on in a run that matched the plain one.
2. ``BREAK_BOUNDARY=1`` (set only by the tests' harness, for the negative control recorded in
   docs/benchmarks.md): the micro-batch boundary is deliberately broken. Every micro-batch is
   its own accumulation boundary, synchronised (DDP all-reduce / DeepSpeed reduce) and followed
   by an optimizer step, as a trainer that stepped per micro-batch would do.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

import gpg_vl.trainer.loop as loop
import gpg_vl.trainer.step as step
from gpg_vl.cli import main
from gpg_vl.models.forward import LogprobModel

RANK = int(os.environ.get("RANK", "0"))
OUT = Path(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("train.output_dir=")))
state = {"step": 0, "in_backward": False, "recomputed": 0, "run": None}

original_forward = LogprobModel.forward
original_step, original_update, original_backward = loop.train_step, step.update, step.backward


def counting(forward):
    def layer_forward(self, *args, **kwargs):
        if state["in_backward"] and torch.is_grad_enabled():
            state["recomputed"] += 1
        return forward(self, *args, **kwargs)
    return layer_forward


def count_layers(model) -> None:
    """Count every call of the layers' class forward (which checkpointing recomputes), once."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    for cls in {type(m) for m in model.modules() if isinstance(m, GradientCheckpointingLayer)}:
        if not getattr(cls.forward, "probed", False):
            cls.forward = counting(cls.forward)
            cls.forward.probed = True


def logprob_forward(self, *args, **kwargs):
    count_layers(self.policy)
    state["in_backward"] = False
    logprobs = original_forward(self, *args, **kwargs)
    if logprobs.requires_grad:  # its gradient arrives before any layer of this pass is recomputed
        logprobs.register_hook(lambda grad: state.update(in_backward=True))
    return logprobs


def update(run, pieces):
    state["run"] = run
    return original_update(run, pieces)


def broken_backward(accelerator, model, algorithm, rollout_cfg, pieces, plan, adv, loss_kwargs):
    """Each micro-batch a whole step: its own boundary (sync), then an optimizer step (the
    last one's step is the trainer's own)."""
    run, stats = state["run"], {}
    for k, mb in enumerate(plan):
        stats = original_backward(accelerator, model, algorithm, rollout_cfg, pieces, [mb], adv, loss_kwargs)
        if k < len(plan) - 1:
            step.optimizer_step(accelerator, model, run.optim, run.counters, run.cfg.train.max_grad_norm, False)
    return stats


def train_step(run):
    state["step"] += 1
    state["recomputed"] = 0
    metrics = original_step(run)
    state["in_backward"] = False
    with open(OUT / f"probe_rank{RANK}.jsonl", "a") as f:
        f.write(json.dumps({"step": state["step"], "recomputed": state["recomputed"]}) + "\n")
    return metrics


LogprobModel.forward, loop.train_step = logprob_forward, train_step
if os.environ.get("BREAK_BOUNDARY") == "1":
    step.update, step.backward = update, broken_backward
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
