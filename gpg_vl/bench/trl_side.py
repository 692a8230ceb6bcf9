"""TRL's side of the benchmark: the real ``GRPOTrainer`` with beta = 0 on the same workload.

Same checkpoint (loaded by the same loader), same prompts in the same order (the rows are handed
over in the order gpg-vl's seeded prompt sampler draws them, and ``shuffle_dataset=False``), same
G, prompts per step, completion length, sampling settings, learning rate, micro-batch size and
reward function. One optimizer step takes ``prompts_per_step x G`` completions, generated in
one batch (``steps_per_generation`` = gradient-accumulation steps, TRL's default), so no
old-policy pass runs, and beta = 0 loads no reference model: the remaining difference is how
the work is done.

A step is timed from one ``on_step_end`` to the next (data loading, generation, scoring, every
micro-batch's forward/backward and the optimizer step); generation is the time spent inside
``_generate_and_score_completions``; update is the rest.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from gpg_vl.bench.counters import WorkCounter, peak_gpu_mb, peak_rss_mb
from gpg_vl.bench.workload import Workload, distinct_char_reward, prompt_text


class TRLUnavailable(RuntimeError):
    """TRL is missing or cannot build a GRPOTrainer for this workload."""


def sampler_order(num_rows: int, seed: int) -> list[int]:
    """Row indices in the order gpg-vl's prompt sampler draws them (its first epoch)."""
    from gpg_vl.trainer.sampler import PromptSampler

    return PromptSampler(num_rows, seed).draw(num_rows)


def dataset(paths: dict, seed: int):
    """TRL's conversational VLM format (a ``prompt`` message list and an ``image`` column), in
    gpg-vl's draw order."""
    from datasets import Dataset
    from PIL import Image

    root = Path(paths["data"]).parent
    rows = [json.loads(line) for line in Path(paths["data"]).read_text().splitlines() if line.strip()]
    rows = [rows[i] for i in sampler_order(len(rows), seed)]
    return Dataset.from_list([{"prompt": [{"role": "user", "content": prompt_text(r)}],
                               "image": Image.open(root / r["images"][0]).convert("RGB"),
                               "task": r["task"]} for r in rows])


def trl_config(work: Workload, steps: int, out_dir: str):
    import torch
    from trl import GRPOConfig

    rows = work.prompts_per_step * work.num_generations
    if rows % work.micro_batch_size:
        raise ValueError(f"prompts_per_step x G = {rows} must be a multiple of micro_batch_size "
                         f"{work.micro_batch_size} for TRL's gradient accumulation")
    return GRPOConfig(
        output_dir=out_dir, beta=0.0, num_generations=work.num_generations,
        per_device_train_batch_size=work.micro_batch_size, gradient_accumulation_steps=rows // work.micro_batch_size,
        max_completion_length=work.max_new_tokens, temperature=work.temperature, top_p=work.top_p, top_k=0,
        learning_rate=work.lr, lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=1.0,
        max_steps=steps, seed=work.seed, shuffle_dataset=False, scale_rewards="none",
        use_cpu=not torch.cuda.is_available(), bf16=False, fp16=False, report_to=[], save_strategy="no",
        logging_steps=10**6, disable_tqdm=True, dataloader_num_workers=0, log_completions=False,
        **vllm_options(work))


def vllm_options(work: Workload) -> dict:
    """TRL's colocated vLLM (``use_vllm=True, vllm_mode="colocate"``) when the workload asks for it."""
    if work.engine != "vllm":
        return {}
    return {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": work.vllm_memory,
            "vllm_max_model_length": 1024}


def build_trainer(work: Workload, paths: dict, steps: int, out_dir: str):
    """(trainer, policy, processor); TRLUnavailable names what failed."""
    try:
        from trl import GRPOTrainer
    except Exception as exc:  # missing, or an incompatible transformers / accelerate underneath
        raise TRLUnavailable(f"cannot import trl.GRPOTrainer: {type(exc).__name__}: {exc}") from exc
    from gpg_vl.models import load_policy

    policy, processor, _ = load_policy(paths["model"], min_pixels=work.min_pixels, max_pixels=work.max_pixels)
    try:
        trainer = GRPOTrainer(model=policy, reward_funcs=[distinct_char_reward], args=trl_config(work, steps, out_dir),
                              train_dataset=dataset(paths, work.seed), processing_class=processor)
    except (TypeError, ValueError, AttributeError, ImportError, RuntimeError) as exc:
        raise TRLUnavailable(f"trl.GRPOTrainer rejected the workload: {type(exc).__name__}: {exc}") from exc
    return trainer, policy, processor


def run_trl(work: Workload, paths: dict, steps: int, out_dir: str) -> dict:
    """Per-step timings and counts of ``steps`` GRPOTrainer steps, and the process's peak memory."""
    import torch
    from transformers import TrainerCallback

    trainer, policy, processor = build_trainer(work, paths, steps, out_dir)
    counter = WorkCounter(policy, processor.tokenizer)
    counter.phase = "update"
    gen_seconds = [0.0]
    generate_and_score = trainer._generate_and_score_completions

    def timed_generation(inputs):
        t0 = time.perf_counter()
        with counter.in_phase("gen"):
            out = generate_and_score(inputs)
        gen_seconds[0] += time.perf_counter() - t0
        return out

    trainer._generate_and_score_completions = timed_generation
    records: list[dict] = []

    class StepTimer(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            self.setup_rss, self.t = peak_rss_mb(), time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            now = time.perf_counter()
            step = now - self.t
            lengths = trainer._metrics["train"].get("completions/mean_length", [0.0])[-1]
            records.append({"step_seconds": step, "gen_seconds": gen_seconds[0], "update_seconds": step - gen_seconds[0],
                            "completion_tokens": round(lengths * work.prompts_per_step * work.num_generations),
                            **counter.take()})
            gen_seconds[0], self.t = 0.0, time.perf_counter()

    timer = StepTimer()
    trainer.add_callback(timer)
    trainer.train()
    return {"steps": records, "setup_rss_mb": timer.setup_rss, "peak_rss_mb": peak_rss_mb(),
            "peak_gpu_mb": peak_gpu_mb(), "trl_version": __import__("trl").__version__}
