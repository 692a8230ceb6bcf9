"""The training loop: warm-up (optional) -> evaluate -> [train_step -> log -> checkpoint]* -> evaluate.

One readable loop; each step's phases (sample -> generate -> score -> advantages -> update) live
in ``gpg_vl.trainer.step``. Returns a summary with the before/after evaluations.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from gpg_vl.config import Config, to_dict
from gpg_vl.trainer.checkpoint import save_policy
from gpg_vl.trainer.evaluate import evaluate
from gpg_vl.trainer.logging import MetricsLogger
from gpg_vl.trainer.setup import build_run
from gpg_vl.trainer.step import train_step
from gpg_vl.trainer.warmup import run_warmup


def run_eval(run) -> dict | None:
    if not run.test_samples:
        return None
    cfg = run.cfg
    return evaluate(run.policy, run.processor, run.test_samples, run.reward_model,
                    encode_kwargs=run.encode_kwargs, max_new_tokens=cfg.rollout.max_new_tokens)


def train(cfg: Config, log=print) -> dict:
    """Run the configured training; writes metrics, checkpoints and ``summary.json``."""
    t_start = time.perf_counter()
    out = Path(cfg.train.output_dir)
    run = build_run(cfg)
    main = run.accelerator.is_main_process
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
        log(f"policy {cfg.model.path} ({run.family.name}), {len(run.train_samples)} train / "
            f"{len(run.test_samples)} test rows, algorithm {cfg.algorithm.name}")
    if cfg.warmup.steps:
        run_warmup(run.policy, run.processor, run.train_samples, cfg.warmup, encode_kwargs=run.encode_kwargs,
                   box_frame=run.family.box_frame, seed=cfg.train.seed, log=log if main else (lambda *_: None))
    before = run_eval(run)
    if main and before:
        log(f"before: {json.dumps(before['by_task'])}")
    logger = MetricsLogger(out, cfg.train.steps, enabled=main, tensorboard=cfg.train.tensorboard,
                           every=cfg.train.log_every)
    history, evals = [], []
    try:
        for step in range(1, cfg.train.steps + 1):
            metrics = train_step(run)
            history.append(metrics)
            logger.log(step, metrics)
            if cfg.train.eval_every and step % cfg.train.eval_every == 0 and step < cfg.train.steps:
                evals.append({"step": step, **(run_eval(run) or {})})
            if cfg.train.save_every and step % cfg.train.save_every == 0 and main:
                save_policy(run.policy, run.processor, out / "checkpoints" / f"step-{step:06d}", {"step": step})
    finally:
        logger.close()
    after = run_eval(run)
    summary = {"before": before, "after": after, "steps": cfg.train.steps, "evals": evals,
               "wall_seconds": time.perf_counter() - t_start, **run.counters}
    if main:
        save_policy(run.policy, run.processor, out / "final", {"steps": cfg.train.steps})
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        if after:
            log(f"after: {json.dumps(after['by_task'])}")
    run.accelerator.wait_for_everyone()
    summary["history"] = history
    return summary
