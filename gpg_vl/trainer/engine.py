"""Which engine samples the rollout (``rollout.engine``), and the correction for a separate sampler.

hf: gpg-vl's own decode loop over the trainer's weights (gpg_vl/rollout.py), the reference.
vllm: one in-process vLLM engine per training process (gpg_vl/engines/vllm.py), built on first
use and given the trainer's weights before the first rollout after every optimizer step.
"""
from __future__ import annotations

import torch

from gpg_vl.algorithms.importance import importance_weighted, mismatch_stats, tis_weights
from gpg_vl.rollout import Rollout, generate
from gpg_vl.trainer.zero3 import weights_for_generation


def sample(run, batch: dict, samples: list[dict], generators: list) -> Rollout:
    """G completions for every prompt of ``batch`` from the configured engine."""
    cfg = run.cfg.rollout
    if cfg.engine == "vllm":
        return sample_vllm(run, batch, samples, [gen.initial_seed() for gen in generators])
    with weights_for_generation(run) as all_done:
        return generate(run.policy, run.processor, batch, max_new_tokens=cfg.max_new_tokens,
                        temperature=cfg.temperature, top_p=cfg.top_p, num_generations=cfg.num_generations,
                        all_done=all_done, generator=generators, encode_images_once=run.reuse_image_features)


def vllm_engine(run):
    """The run's vLLM engine (built on first use)."""
    engine = getattr(run, "vllm_engine", None)
    if engine is None:
        from gpg_vl.engines.vllm import VllmEngine

        m, acc = run.cfg.model, run.accelerator
        limits = {k: v for k, v in (("min_pixels", m.min_pixels), ("max_pixels", m.max_pixels)) if v is not None}
        engine = VllmEngine(m.path, run.policy, run.processor, run.cfg.rollout, seed=acc.process_index,
                            rank=acc.process_index, world_size=acc.num_processes, mm_kwargs=limits)
        run.vllm_engine = engine
    return engine


def weights_version(run) -> int:
    """Changes exactly when an optimizer step changed the weights (skipped steps leave it)."""
    scheduler = getattr(run.scheduler, "scheduler", run.scheduler)
    return int(scheduler.last_epoch)


def prompt_images(run, samples: list[dict]) -> list[list]:
    """Each prompt's images as the trainer's processor received them (qwen_vl_utils-resized)."""
    from qwen_vl_utils import process_vision_info

    from gpg_vl.processing import prompt_text, sample_images

    out = []
    for sample in samples:
        _, messages = prompt_text(run.processor, sample, sample_images(sample), **run.encode_kwargs)
        images, _ = process_vision_info(messages)
        out.append(list(images or []))
    return out


def sample_vllm(run, batch: dict, samples: list[dict], seeds: list[int]) -> Rollout:
    engine = vllm_engine(run)
    version = weights_version(run)
    if engine.synced_version != version:
        engine.sync(run.policy, version)
    # distinct per-prompt seeds: vLLM gives sample k of a request seed + k
    seeds = [(s * 65_537) % (1 << 62) for s in seeds]
    rollout = engine.generate(batch, prompt_images(run, samples), seeds, run.cfg.rollout.num_generations)
    device = run.accelerator.device
    if run.reuse_image_features:  # frozen vision tower: the update reuses the encoded images
        from gpg_vl.models.forward import base_and_head, encode_images

        rollout.prompt = encode_images(base_and_head(run.policy)[0], {k: v.to(device) for k, v in batch.items()})
    else:
        rollout.prompt = {k: v.to(device) for k, v in batch.items() if torch.is_tensor(v)}
    return rollout


def sampler_correction(run, rollout: Rollout, rows: list[int], logprobs: torch.Tensor, mask: torch.Tensor,
                       stats: dict) -> torch.Tensor:
    """With a separate sampler: log its mismatch with the trainer's ``logprobs`` [n, C] into
    ``stats`` (mean and max |delta log p|, KL estimate) and, with rollout.importance_correction=tis,
    weight the gradient by the truncated importance ratio. The hf engine: ``logprobs`` unchanged."""
    sampler = getattr(rollout, "sampler_logprobs", None)
    if sampler is None:
        return logprobs
    sampler = sampler[rows, :logprobs.shape[1]].to(logprobs.device)  # [n, C]
    part = mismatch_stats(logprobs, sampler, mask)
    owner, acc = getattr(run, "mismatch_totals", (None, None))
    if owner is not stats:  # a new step: totals over this step's micro-batches
        acc = {"tokens": 0, "abs_sum": 0.0, "abs_max": 0.0, "k3_sum": 0.0, "tis_sum": 0.0}
        run.mismatch_totals = (stats, acc)
    acc.update(tokens=acc["tokens"] + part["tokens"], abs_sum=acc["abs_sum"] + part["abs_sum"],
               abs_max=max(acc["abs_max"], part["abs_max"]), k3_sum=acc["k3_sum"] + part["k3_sum"])
    n = max(acc["tokens"], 1)
    stats.update({"mismatch/mean_abs_logprob": acc["abs_sum"] / n, "mismatch/max_abs_logprob": acc["abs_max"],
                  "mismatch/kl_k3": acc["k3_sum"] / n})
    cfg = run.cfg.rollout
    if cfg.importance_correction == "tis":
        weights = tis_weights(logprobs, sampler, mask, cfg.tis_cap)  # [n, C]
        acc["tis_sum"] += float(weights.sum())
        stats["tis/mean_weight"] = acc["tis_sum"] / n
        return importance_weighted(logprobs, weights)
    return logprobs
