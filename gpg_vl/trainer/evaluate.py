"""Greedy evaluation on held-out samples: each reward component's mean, per task."""
from __future__ import annotations

import math
from collections import defaultdict

import torch

from gpg_vl.processing import encode_prompts, render_prompt
from gpg_vl.rollout import generate
from gpg_vl.trainer.rewards import completion_id_lists


@torch.no_grad()
def evaluate(model, processor, samples: list[dict], reward_model, *, encode_kwargs: dict,
             max_new_tokens: int, batch_size: int = 32) -> dict:
    """``{"by_task": {task: {component: mean, "n": rows}}, "reward": mean total, "n": rows}``."""
    sums: dict = defaultdict(lambda: defaultdict(float))
    counts: dict = defaultdict(lambda: defaultdict(int))
    rows, total = defaultdict(int), 0.0
    for s in range(0, len(samples), batch_size):
        chunk = samples[s:s + batch_size]
        batch = encode_prompts(processor, chunk, **encode_kwargs)
        rollout = generate(model, processor, batch, max_new_tokens=max_new_tokens, do_sample=False)
        prompts = [render_prompt(s, encode_kwargs.get("prompt_template", "{problem}")) for s in chunk]
        ids = completion_id_lists(rollout.completion_ids, rollout.completion_mask)
        rewards, parts = reward_model.score(prompts, rollout.texts, chunk, completion_ids=ids)
        total += rewards.sum().item()
        for i, sample in enumerate(chunk):
            task = sample.get("task", "all")
            rows[task] += 1
            for name, values in parts.items():
                v = values[i].item()
                if not math.isnan(v):
                    sums[task][name] += v
                    counts[task][name] += 1
    by_task = {t: {**{k: sums[t][k] / counts[t][k] for k in sums[t]}, "n": rows[t]} for t in rows}
    return {"by_task": by_task, "reward": total / max(1, len(samples)), "n": len(samples)}
