"""Stop a run that can no longer learn, cleanly, before it writes anything from a bad state.

- Non-finite weights (an update that overflowed): the run stops at once, before the step's
  checkpoint, so the newest checkpoint is the last good one. Checked after every update, on every
  rank, with one global decision.
- No update for ``train.max_no_update_steps`` steps in a row (every group degenerate: all G rewards
  of every prompt equal, so every advantage is 0): each such step warns with the reason, and the run
  stops at the limit instead of finishing "successfully" having learnt nothing.
"""
from __future__ import annotations

import warnings

import torch

from gpg_vl.trainer.collectives import global_sum


class TrainingStopped(RuntimeError):
    """The run cannot go on; the last good checkpoint is left intact."""


def first_nonfinite_parameter(model) -> str | None:
    """Name of the first trainable parameter holding NaN or inf on this rank (None: all finite).
    Under ZeRO-3 each rank checks the shard it holds (``ds_tensor``), not the empty placeholder."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            data = getattr(p, "ds_tensor", p)
            if p.requires_grad and data.numel() and not bool(torch.isfinite(data).all()):
                return name
    return None


def check_weights(run, step: int) -> None:
    """Raise TrainingStopped when any rank holds a non-finite trainable weight."""
    bad = first_nonfinite_parameter(run.model.policy)
    if global_sum(run.accelerator, [0.0 if bad is None else 1.0])[0] > 0:
        where = f" (first: {bad})" if bad else " (on another rank)"
        raise TrainingStopped(
            f"step {step}: the weights became non-finite after the update{where}; stopping before saving. "
            f"The last good checkpoint in {run.cfg.train.output_dir}/checkpoints is intact "
            "(lower train.lr or train.max_grad_norm, then resume with train.resume_from=auto)")


def check_progress(run, step: int, metrics: dict) -> None:
    """Count consecutive steps without an update for a degenerate batch; warn, then stop."""
    counters = run.counters
    no_update = bool(metrics.get("skipped")) and not metrics.get("nonfinite")
    counters["consecutive_no_update"] = counters.get("consecutive_no_update", 0) + 1 if no_update else 0
    if not no_update:
        return
    n, limit = counters["consecutive_no_update"], run.cfg.train.max_no_update_steps
    reason = (f"every group was degenerate (all {run.cfg.rollout.num_generations} rewards of each prompt equal, "
              f"valid_fraction={metrics.get('valid_fraction', 0):.2g}), so every advantage is 0")
    if n == 1:  # once per streak: the console shows each skipped step already (trainer.report)
        warnings.warn(f"step {step}: no update: {reason}; the run stops after {limit} such steps in a row "
                      "(train.max_no_update_steps)", RuntimeWarning, stacklevel=2)
    if n >= limit:
        raise TrainingStopped(
            f"step {step}: {n} consecutive steps made no update: {reason}. Check that the rewards apply to "
            "these tasks (rewards[].tasks), that they can differ within a group (rollout.temperature, "
            "rollout.num_generations), and the reward scale; train.max_no_update_steps sets this limit")
