"""The start block (what is about to run) and the end block (where everything went).

One place says, before the first step, which model, data, algorithm settings, batch and
hardware a run uses and where it writes; and, after the last, where the model, the summary,
the metrics and the reward curves are, so a run in a log file explains itself.
"""
from __future__ import annotations

from pathlib import Path


def engine(accelerator) -> str:
    """``cpu, 1 process`` / ``cuda, 8 processes (DDP)`` / ``... (DeepSpeed ZeRO-3)``: plain words."""
    kind = getattr(accelerator.distributed_type, "value", str(accelerator.distributed_type))
    n = accelerator.num_processes
    how = {"NO": "", "MULTI_GPU": "DDP", "MULTI_CPU": "DDP (gloo)", "FSDP": "FSDP"}.get(kind, kind)
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is not None:
        how = f"DeepSpeed ZeRO-{plugin.deepspeed_config.get('zero_optimization', {}).get('stage', '?')}"
    device = getattr(accelerator.device, "type", str(accelerator.device))
    return f"{device}, {n} process{'es' if n != 1 else ''}" + (f" ({how})" if how else "") + \
        ", generation with transformers (one prefill per group)"


def algorithm_line(name: str, options, beta_th: float | None, max_draws: int) -> str:
    """The algorithm and its resolved typed options (the record's defaults filled in)."""
    import dataclasses

    settings = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(options).items())
    if beta_th is not None:
        settings += f", beta_th={beta_th}, max_draws={max_draws}"
    return f"{name} ({settings})"


def start_block(run, data: dict, steps: str) -> str:
    """The lines printed before training; ``data`` from ``loop.data_counts``."""
    cfg, t = run.cfg, run.cfg.train
    g = cfg.rollout.num_generations
    lora = cfg.model.lora
    weights = f"LoRA r={lora.r}" if lora.enabled else "all weights"
    if cfg.model.freeze_vision:
        weights += ", vision tower frozen"
    vision_lr = f", vision tower {t.vision_lr:g}" if t.vision_lr is not None and not cfg.model.freeze_vision else ""
    test = f"; test {cfg.data.test}: {len(run.data.test_samples)} rows" if cfg.data.test else "; no test set"
    rows = [
        ("model", f"{cfg.model.path} ({run.model.family.name}, {weights}, dtype {cfg.model.dtype})"),
        ("data", f"{cfg.data.train}: {data['train_rows']} rows kept; {data['skipped_bad_images']} skipped for "
                 f"bad images, {data['skipped_long_prompts']} for long prompts{test}"),
        ("rewards", ", ".join(f"{s.name} x{s.weight:g}" + (f" on {'/'.join(s.tasks)}" if s.tasks else "")
                              for s in cfg.rewards)),
        ("algorithm", algorithm_line(cfg.algorithm.name, run.options, cfg.algorithm.beta_th,
                                     cfg.algorithm.max_draws)),
        ("batch", f"{t.prompts_per_step} prompts x G={g} = {t.prompts_per_step * g} completions per step, "
                  f"micro-batch {t.micro_batch_size}, max {cfg.rollout.max_new_tokens} new tokens"),
        ("lr", f"{t.lr:g}{vision_lr} ({t.lr_schedule}, {t.warmup_steps} warm-up steps, clip {t.max_grad_norm:g})"),
        ("steps", steps + (f"; SFT warm-up {cfg.warmup.steps} steps first" if cfg.warmup.steps else "")),
        ("engine", engine(run.accelerator)),
        ("output", f"{Path(t.output_dir).resolve()} (logs: {', '.join(t.report_to)})"),
    ]
    return "gpg-vl train\n" + "\n".join(f"  {k:<10} {v}" for k, v in rows)


def end_block(out: Path, steps: int, seconds: float, counters: dict, plot: Path | None,
              report_to: list[str]) -> str:
    """The lines printed after training: where the model, summary, logs and plot are."""
    out = Path(out).resolve()
    skipped = counters.get("skipped_steps", 0) + counters.get("nonfinite_steps", 0)
    logs = [str(out / "metrics.jsonl")] if "jsonl" in report_to else []
    if "tensorboard" in report_to:
        logs.append(f"{out / 'tensorboard'} (tensorboard --logdir {out / 'tensorboard'})")
    if "wandb" in report_to:
        logs.append(f"{out / 'wandb'}")
    if "swanlab" in report_to:
        logs.append(f"{out / 'swanlog'}")
    rows = [("model", f"{out / 'final'} (Hugging Face format; vllm serve {out / 'final'})"),
            ("summary", str(out / "summary.json")),
            ("logs", "; ".join(logs) or "none (train.report_to is empty)")]
    if (out / "samples.jsonl").exists():
        rows.append(("samples", str(out / "samples.jsonl")))
    if plot is not None:
        rows.append(("rewards", str(Path(plot).resolve())))
    mins = f"{int(seconds // 60)} min {seconds % 60:.0f} s" if seconds >= 60 else f"{seconds:.1f} s"
    head = f"done: {steps} steps in {mins}" + (f", {skipped} skipped without an update" if skipped else "")
    return head + "\n" + "\n".join(f"  {k:<10} {v}" for k, v in rows)
