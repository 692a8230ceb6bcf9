"""The training loop: warm-up (optional) -> evaluate -> [train_step -> log -> checkpoint]* -> evaluate.

One readable loop; each step's phases (sample -> generate -> score -> advantages -> update) live
in ``gpg_vl.trainer.step``. ``train.resume_from`` restores weights, optimizer, scheduler, RNG
and data position, so a resumed run continues the same sequence of prompts.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gpg_vl.config import Config, to_dict
from gpg_vl.config.validate import check_launch
from gpg_vl.errors import ConfigError
from gpg_vl.trainer.checkpoint import export_policy, load_checkpoint, save_checkpoint
from gpg_vl.console import ProgressLine, quiet_third_party
from gpg_vl.trainer.evaluate import evaluate
from gpg_vl.trainer.health import TrainingStopped, check_progress, check_weights
from gpg_vl.trainer.logging import MetricsLogger
from gpg_vl.trainer.output_dir import apply_output_plan, plan_output
from gpg_vl.trainer.setup import apply_configured_rates, build_run, frozen_reference
from gpg_vl.trainer.plots import write_plot
from gpg_vl.trainer.report import end_block, start_block
from gpg_vl.trainer.sinks import strict
from gpg_vl.trainer.step import train_step
from gpg_vl.trainer.zero3 import weights_for_generation
from gpg_vl.trainer.warmup import run_warmup

if TYPE_CHECKING:
    from gpg_vl.data.dataset import SampleSet


def run_eval(run) -> dict | None:
    if not run.data.test_samples:
        return None
    gather = run.cfg.rollout.gather_zero3_for_generation
    with weights_for_generation(run.accelerator, run.model.logprob_model, gather):
        return evaluate(run.model.policy, run.model.processor, run.data.test_samples, run.reward_model,
                        encode_kwargs=run.data.encode_kwargs, max_new_tokens=run.cfg.rollout.max_new_tokens)


def start(run, log, ckpt: Path | None) -> tuple[int, dict | None]:
    """Resume from ``ckpt``, or warm up and evaluate a fresh run: (first step, before-eval)."""
    cfg = run.cfg
    if ckpt is not None:
        run.model.reference = frozen_reference(run, resumed=True)  # the starting weights, before the checkpoint's
        state = load_checkpoint(run, ckpt)
        apply_configured_rates(run.optim.optimizer, run.optim.scheduler, cfg.train)
        check_resumed_steps(run, state, ckpt)
        run.counters.update(state.get("counters", {}))
        log(f"resumed from {ckpt} at step {state['step']}")
        return state["step"], state.get("before")
    if cfg.warmup.steps:
        run_warmup(run.model.policy, run.model.processor, run.data.train_samples, cfg.warmup,
                   encode_kwargs=run.data.encode_kwargs, box_frame=run.model.family.box_frame, seed=cfg.train.seed,
                   log=log, progress=ProgressLine("warm-up", cfg.warmup.steps, every=max(1, cfg.warmup.steps // 5),
                                                  enabled=run.accelerator.is_main_process))
    run.model.reference = frozen_reference(run)  # RL starts here: the KL to it is 0 at the first step
    before = run_eval(run)
    if before:
        log(f"before: {json.dumps(before['by_task'])}")
    return 0, before


def data_counts(samples: SampleSet) -> dict:
    """Training rows kept and dropped at load (bad images, long prompts), for the log and summary."""
    bad_rows = getattr(samples, "bad_rows", None)
    return {"train_rows": len(samples), "skipped_bad_images": samples.skipped,
            "skipped_long_prompts": samples.long_prompts.skipped,
            "skipped_bad_rows": bad_rows.skipped if bad_rows is not None else 0}


def describe_steps(run) -> str:
    """The step count and, when train.epochs set it, how it was derived (logged at the start)."""
    t = run.cfg.train
    if t.epochs is None:
        return f"{run.total_steps} steps (train.steps)"
    return (f"{run.total_steps} steps = ceil({t.epochs:g} epochs x {len(run.data.train_samples)} rows / "
            f"{t.prompts_per_step} prompts per step)")


def check_resumed_steps(run, state: dict, ckpt: Path) -> None:
    """A run trained by epochs resumes with the step count it started with, or not at all: the LR
    schedule and the step at which it ends both follow that count. (A run by train.steps may be
    extended on resume on purpose.)"""
    saved = state.get("total_steps")
    if run.cfg.train.epochs is None or saved is None or saved == run.total_steps:
        return
    raise ConfigError(f"{ckpt} was saved by a run of {saved} steps ({state.get('train_rows')} training rows); "
                     f"this run resolves train.epochs={run.cfg.train.epochs:g} to {run.total_steps} steps "
                     f"({len(run.data.train_samples)} rows): load the same data (data.train, data.limit, "
                     f"data.max_prompt_length) or set train.epochs=null train.steps={saved}")


def check_finite(run, step: int, metrics: dict) -> None:
    limit = run.cfg.train.max_consecutive_skips
    if metrics.get("nonfinite") and run.counters["consecutive_nonfinite"] >= limit:
        raise TrainingStopped(
            f"step {step}: {limit} consecutive steps had a non-finite loss or gradient; stopping. "
            f"The last good checkpoint in {run.cfg.train.output_dir}/checkpoints is intact "
            "(lower train.lr, check the data, or raise train.max_consecutive_skips)")


def train(cfg: Config, log=print) -> dict:
    """Run the configured training; writes metrics, checkpoints, ``final/`` and ``summary.json``."""
    t_start = time.perf_counter()
    quiet_third_party()
    check_launch(cfg)
    plan = plan_output(cfg)  # refuses to clobber or to resume a different run; writes nothing
    out = plan.out
    run = build_run(cfg)
    main = run.accelerator.is_main_process
    say = log if main else (lambda *_: None)
    if main:
        apply_output_plan(plan, cfg)
    run.accelerator.wait_for_everyone()
    data = data_counts(run.data.train_samples)
    say(start_block(run, data, describe_steps(run)))
    first, before = start(run, say, plan.checkpoint)
    total = run.total_steps
    t = cfg.train
    logger = MetricsLogger(out, total, enabled=main, tensorboard=t.tensorboard, every=t.log_every,
                           append=first > 0, report_to=t.report_to, samples_every=t.log_samples_every,
                           samples=t.log_samples, config=to_dict(cfg), first_step=first)
    history, evals = [], []
    saved = {"total_steps": total, "train_rows": len(run.data.train_samples), "config": to_dict(cfg)}
    try:
        for step in range(first + 1, total + 1):
            run.reward_model.begin_step(step, total)  # trainer_state for TRL reward functions
            metrics = {**train_step(run), **run.reward_model.drain_metrics()}
            history.append(metrics)
            logger.log(step, metrics, batch=run.reward_model.last_batch)
            check_finite(run, step, metrics)
            check_weights(run, step)
            check_progress(run, step, metrics)
            if cfg.train.eval_every and step % cfg.train.eval_every == 0 and step < total:
                evals.append({"step": step, **(run_eval(run) or {})})
            if (cfg.train.save_every and step % cfg.train.save_every == 0) or step == total:
                save_checkpoint(run, step, {"counters": run.counters, "before": before, **saved})
    finally:
        logger.close()
    after = run_eval(run)
    summary = {"before": before, "after": after, "steps": total, "evals": evals,
               "wall_seconds": time.perf_counter() - t_start, "data": data, **run.counters}
    export_policy(run, out / "final", merge_lora=cfg.model.lora.merge_on_export)
    if main:
        (out / "summary.json").write_text(json.dumps(strict(summary), indent=2, allow_nan=False))
        if after:
            say(f"after: {json.dumps(after['by_task'])}")
        plot = write_plot(history, out / "reward.png")
        say(end_block(out, total, time.perf_counter() - t_start, run.counters, plot, t.report_to))
    run.accelerator.wait_for_everyone()
    summary["history"] = history
    return summary
