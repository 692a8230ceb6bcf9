"""Which engine samples the rollout (``rollout.engine``), and the correction for a separate sampler.

hf: gpg-vl's own decode loop over the trainer's weights (gpg_vl/rollout.py), the reference.
vllm: one in-process vLLM engine per training process (gpg_vl/engines/vllm.py), built on first
use and given the trainer's weights before the first rollout after every applied optimizer step.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from gpg_vl.algorithms.importance import importance_weighted, mismatch_stats, tis_weights
from gpg_vl.rollout import Rollout, generate
from gpg_vl.trainer.zero3 import weights_for_generation

if TYPE_CHECKING:
    from gpg_vl.config import Config
    from gpg_vl.trainer.setup import DataParts, ModelParts


def sample(cfg: Config, accelerator, model: ModelParts, data: DataParts, batch: dict, samples: list[dict],
           generators: list) -> Rollout:
    """G completions for every prompt of ``batch`` from the configured engine."""
    ro = cfg.rollout
    if ro.engine == "vllm":
        return sample_vllm(cfg, accelerator, model, data, batch, samples, [gen.initial_seed() for gen in generators])
    with weights_for_generation(accelerator, model.logprob_model, ro.gather_zero3_for_generation) as all_done:
        return generate(model.policy, model.processor, batch, max_new_tokens=ro.max_new_tokens,
                        temperature=ro.temperature, top_p=ro.top_p, num_generations=ro.num_generations,
                        all_done=all_done, generator=generators, encode_images_once=model.reuse_image_features)


def vllm_engine(cfg: Config, accelerator, model: ModelParts):
    """The run's vLLM engine (built on first use, kept in ``model.vllm_engine``)."""
    if model.vllm_engine is None:
        from gpg_vl.engines.vllm import VllmEngine

        m = cfg.model
        limits = {k: v for k, v in (("min_pixels", m.min_pixels), ("max_pixels", m.max_pixels)) if v is not None}
        model.vllm_engine = VllmEngine(m.path, model.policy, model.processor, cfg.rollout,
                                       seed=accelerator.process_index, rank=accelerator.process_index,
                                       world_size=accelerator.num_processes, mm_kwargs=limits)
    return model.vllm_engine


def prompt_images(processor, encode_kwargs: dict, samples: list[dict]) -> list[list]:
    """Each prompt's images as the trainer's processor received them (qwen_vl_utils-resized)."""
    from qwen_vl_utils import process_vision_info

    from gpg_vl.processing import prompt_text, sample_images

    out = []
    for sample in samples:
        _, messages = prompt_text(processor, sample, sample_images(sample), **encode_kwargs)
        images, _ = process_vision_info(messages)
        out.append(list(images or []))
    return out


def sample_vllm(cfg: Config, accelerator, model: ModelParts, data: DataParts, batch: dict, samples: list[dict],
                seeds: list[int]) -> Rollout:
    engine = vllm_engine(cfg, accelerator, model)
    if engine.synced_version != model.weights_version:
        engine.sync(model.policy, model.weights_version)
    # distinct per-prompt seeds: vLLM gives sample k of a request seed + k
    seeds = [(s * 65_537) % (1 << 62) for s in seeds]
    images = prompt_images(model.processor, data.encode_kwargs, samples)
    rollout = engine.generate(batch, images, seeds, cfg.rollout.num_generations)
    device = accelerator.device
    if model.reuse_image_features:  # frozen vision tower: the update reuses the encoded images
        from gpg_vl.models.forward import base_and_head, encode_images

        rollout.prompt = encode_images(base_and_head(model.policy)[0], {k: v.to(device) for k, v in batch.items()})
    else:
        rollout.prompt = {k: v.to(device) for k, v in batch.items() if torch.is_tensor(v)}
    return rollout


def sampler_correction(rollout_cfg, rollout: Rollout, rows: list[int], logprobs: torch.Tensor, mask: torch.Tensor,
                       totals: dict) -> torch.Tensor:
    """With a separate sampler: add its mismatch with the trainer's ``logprobs`` [n, C] to this
    step's ``totals`` (``mismatch_summary`` turns them into the logged figures) and, with
    rollout.importance_correction=tis, weight the gradient by the truncated importance ratio.
    The hf engine: ``logprobs`` unchanged."""
    sampler = getattr(rollout, "sampler_logprobs", None)
    if sampler is None:
        return logprobs
    sampler = sampler[rows, :logprobs.shape[1]].to(logprobs.device)  # [n, C]
    part = mismatch_stats(logprobs, sampler, mask)
    totals["tokens"] = totals.get("tokens", 0) + part["tokens"]
    totals["abs_sum"] = totals.get("abs_sum", 0.0) + part["abs_sum"]
    totals["abs_max"] = max(totals.get("abs_max", 0.0), part["abs_max"])
    totals["k3_sum"] = totals.get("k3_sum", 0.0) + part["k3_sum"]
    if rollout_cfg.importance_correction == "tis":
        weights = tis_weights(logprobs, sampler, mask, rollout_cfg.tis_cap)  # [n, C]
        totals["tis_sum"] = totals.get("tis_sum", 0.0) + float(weights.sum())
        return importance_weighted(logprobs, weights)
    return logprobs


def mismatch_summary(totals: dict) -> dict:
    """The step's logged mismatch figures (mean and max |delta log p|, k3 KL estimate, mean TIS
    weight) from ``sampler_correction``'s totals; {} for the hf engine."""
    if not totals:
        return {}
    n = max(totals["tokens"], 1)
    out = {"mismatch/mean_abs_logprob": totals["abs_sum"] / n, "mismatch/max_abs_logprob": totals["abs_max"],
           "mismatch/kl_k3": totals["k3_sum"] / n}
    if "tis_sum" in totals:
        out["tis/mean_weight"] = totals["tis_sum"] / n
    return out
