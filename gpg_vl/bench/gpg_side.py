"""gpg-vl's side of the benchmark: ``build_run`` on the workload, then timed collect / update steps.

The step is ``gpg_vl.trainer.step.train_step`` taken apart: ``collect`` (sample prompts,
generate G completions each, score them) is the generation phase and ``update`` (advantages,
the grouped log-prob forward, backward, optimizer step) the update phase. The run is the
trainer's own, unmodified; TRL's side is handed the rows in the order this run's prompt sampler
draws them (``trl_side.sampler_order``).
"""
from __future__ import annotations

import time

from gpg_vl.bench.counters import WorkCounter, peak_gpu_mb, peak_rss_mb
from gpg_vl.bench.workload import PROMPT_TEMPLATE, REWARD_SPEC, Workload


def config(work: Workload, paths: dict, steps: int, out_dir: str):
    from gpg_vl.config import Config
    from gpg_vl.config.loader import build

    return build(Config, {
        "model": {"path": paths["model"], "min_pixels": work.min_pixels, "max_pixels": work.max_pixels},
        "data": {"train": paths["data"], "prompt_template": PROMPT_TEMPLATE},
        "rollout": {"num_generations": work.num_generations, "max_new_tokens": work.max_new_tokens,
                    "temperature": work.temperature, "top_p": work.top_p, "engine": work.engine,
                    "vllm": {"gpu_memory_utilization": work.vllm_memory}},
        "rewards": [{"name": REWARD_SPEC}],
        "algorithm": {"name": "gpg", "adv_scale": "none", "use_alpha": True},
        "train": {"output_dir": out_dir, "seed": work.seed, "steps": steps,
                  "prompts_per_step": work.prompts_per_step, "micro_batch_size": work.micro_batch_size,
                  "lr": work.lr, "max_grad_norm": 1.0, "tensorboard": False},
    }, source="<bench>")


def run_gpg(work: Workload, paths: dict, steps: int, out_dir: str) -> dict:
    """Per-step timings and counts of ``steps`` gpg-vl steps, and the process's peak memory."""
    import torch

    from gpg_vl.trainer.setup import build_run
    from gpg_vl.trainer.step import collect, update

    run = build_run(config(work, paths, steps, out_dir))
    counter = WorkCounter(run.model.policy, run.model.processor.tokenizer)
    setup_rss = peak_rss_mb()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    records = []
    for _ in range(steps):
        t0 = time.perf_counter()
        with counter.in_phase("gen"):
            pieces, _ = collect(run.cfg, run.accelerator, run.model, run.data, run.reward_model, run.counters)
        t1 = time.perf_counter()
        with counter.in_phase("update"):
            stats = update(run, pieces)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        lengths = torch.cat([p.rollout.completion_mask[p.rows(work.num_generations)].sum(1) for p in pieces])
        records.append({"step_seconds": t2 - t0, "gen_seconds": t1 - t0, "update_seconds": t2 - t1,
                        "completion_tokens": int(lengths.sum()), "skipped": int(stats.get("skipped", 0)),
                        **counter.take()})
    return {"steps": records, "setup_rss_mb": setup_rss, "peak_rss_mb": peak_rss_mb(),
            "peak_gpu_mb": peak_gpu_mb()}
