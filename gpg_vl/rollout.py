"""Rollout: sample G completions per prompt with Hugging Face ``generate``.

Vision special tokens are suppressed while sampling: an emitted ``<|image_pad|>`` would make the
next forward fail (the placeholder count no longer matches the image features). The completion
mask covers tokens up to and including the first end token; what follows is padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gpg_vl.families import VISION_TOKENS
from gpg_vl.processing import image_token_id, repeat_for_group


@dataclass
class Rollout:
    """One generation round. Rows are prompt-major: prompt p's G samples are rows p*G..p*G+G-1."""

    prompt: dict  # the (repeated) prompt batch fed to generate: input_ids [N, P], ...
    completion_ids: torch.Tensor  # [N, C]
    completion_mask: torch.Tensor  # [N, C], 1 up to and including the first end token
    texts: list[str]  # decoded completions, special tokens removed
    truncated: torch.Tensor  # [N] bool: no end token within max_new_tokens


def end_token_ids(model, tokenizer) -> list[int]:
    """Token ids that end a completion: the generation config's eos ids and <|im_end|>."""
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.add(im_end)
    return sorted(i for i in ids if i is not None)


def suppressed_token_ids(tokenizer) -> list[int]:
    """Vision placeholder tokens the policy must never sample."""
    ids = [tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS]
    return [i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id]


def completion_mask(completion_ids: torch.Tensor, end_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask [N, C] of tokens up to and including the first end token, and truncated [N]."""
    is_end = torch.isin(completion_ids, torch.tensor(end_ids, device=completion_ids.device))  # [N, C]
    seen_before = (is_end.cumsum(dim=1) - is_end.long()) > 0  # [N, C]: an end token lies earlier
    return (~seen_before).long(), ~is_end.any(dim=1)


@torch.no_grad()
def generate(model, processor, batch: dict, *, max_new_tokens: int, do_sample: bool = True,
             temperature: float = 1.0, top_p: float = 1.0, num_generations: int = 1) -> Rollout:
    """Sample ``num_generations`` completions for every prompt of ``batch``."""
    tokenizer = processor.tokenizer
    device = next(model.parameters()).device
    if num_generations > 1:
        batch = repeat_for_group(batch, num_generations, image_token_id(model),
                                 model.config.vision_config.spatial_merge_size)
    batch = {k: v.to(device) for k, v in batch.items() if torch.is_tensor(v)}
    end_ids = end_token_ids(model, tokenizer)
    sampling = dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0) if do_sample \
        else dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    was_training = model.training
    model.eval()
    try:
        out = model.generate(**batch, max_new_tokens=max_new_tokens, eos_token_id=end_ids,
                             pad_token_id=tokenizer.pad_token_id,
                             suppress_tokens=suppressed_token_ids(tokenizer), **sampling)
    finally:
        model.train(was_training)
    completion_ids = out[:, batch["input_ids"].shape[1]:]  # [N, C]
    mask, truncated = completion_mask(completion_ids, end_ids)
    kept = completion_ids.masked_fill(mask == 0, tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(kept, skip_special_tokens=True)
    return Rollout(prompt=batch, completion_ids=completion_ids, completion_mask=mask, texts=texts,
                   truncated=truncated)
