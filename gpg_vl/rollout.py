"""Rollout: sample G completions per prompt, prefilling each prompt once.

Each prompt (and its images) goes through the model once; its KV cache is then shared by the
G samples of its group, which decode token by token (issue 6: the vision tower encodes every
image once, not G times, and each prompt is prefilled once). Vision special tokens are
suppressed while sampling: an emitted ``<|image_pad|>`` would make the next forward fail. The
completion mask covers tokens up to and including the first end token; what follows is padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gpg_vl.families import VISION_TOKENS, family_of
from gpg_vl.models.cache import repeat_rows
from gpg_vl.models.forward import base_and_head, encode_images, extend, prefill


@dataclass
class Rollout:
    """One generation round. Rows are prompt-major: prompt p's G samples are rows p*G..p*G+G-1."""

    prompt: dict  # the B distinct prompts: input_ids / attention_mask / mm_token_type_ids [B, P], images
    prompt_index: torch.Tensor  # [N]: which prompt each row continues
    completion_ids: torch.Tensor  # [N, C]
    completion_mask: torch.Tensor  # [N, C], 1 up to and including the first end token
    texts: list[str]  # decoded completions, special tokens removed
    truncated: torch.Tensor  # [N] bool: no end token within max_new_tokens


def _known_ids(tokenizer, tokens) -> list[int]:
    ids = [tokenizer.convert_tokens_to_ids(t) for t in tokens]
    return [i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id]


def end_token_ids(model, tokenizer) -> list[int]:
    """Token ids that end a completion: the generation config's eos ids and the family's end
    tokens (``Family.end_tokens``: <|im_end|> for every Qwen-VL)."""
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    ids.update(_known_ids(tokenizer, family_of(model).end_tokens))
    return sorted(i for i in ids if i is not None)


def suppressed_token_ids(tokenizer, tokens: tuple[str, ...] = VISION_TOKENS) -> list[int]:
    """Vision placeholder tokens the policy must never sample (``Family.vision_tokens``)."""
    return _known_ids(tokenizer, tokens)


def completion_mask(completion_ids: torch.Tensor, end_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask [N, C] of tokens up to and including the first end token, and truncated [N]."""
    is_end = torch.isin(completion_ids, torch.tensor(end_ids, device=completion_ids.device))  # [N, C]
    seen_before = (is_end.cumsum(dim=1) - is_end.long()) > 0  # [N, C]: an end token lies earlier
    return (~seen_before).long(), ~is_end.any(dim=1)


def next_tokens(logits: torch.Tensor, do_sample: bool, temperature: float, top_p: float,
                generator=None) -> torch.Tensor:
    """Greedy, or temperature + nucleus (top-p) sampling, from logits [N, V] -> [N].

    ``generator`` is one torch.Generator, or a list with one per prompt (each drawing its
    group's rows): then a prompt's samples do not depend on which rank or batch it lands in.
    """
    if not do_sample:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / max(temperature, 1e-6), dim=-1)  # [N, V]
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        outside = sorted_p.cumsum(-1) - sorted_p > top_p  # keep the smallest set reaching top_p
        sorted_p = sorted_p.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    if isinstance(generator, (list, tuple)):
        groups = probs.view(len(generator), -1, probs.shape[-1])  # [B, G, V]
        return torch.cat([torch.multinomial(p, 1, generator=gen).squeeze(-1)
                          for p, gen in zip(groups, generator)])
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(model, processor, batch: dict, *, max_new_tokens: int, do_sample: bool = True,
             temperature: float = 1.0, top_p: float = 1.0, num_generations: int = 1,
             generator=None, all_done=None, encode_images_once: bool = False) -> Rollout:
    """Sample ``num_generations`` completions for every prompt of ``batch``.

    ``all_done(done [N] bool) -> bool`` decides when decoding stops; under ZeRO-3 every forward
    is collective, so the trainer passes one that agrees over all ranks.
    ``encode_images_once``: the rollout's prompt keeps the encoded images (``image_features``),
    for an update that reuses them (frozen vision tower only).
    """
    tokenizer = processor.tokenizer
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items() if torch.is_tensor(v)}
    trunk, head = base_and_head(model)
    if encode_images_once:
        batch = encode_images(trunk, batch)
    end_ids = torch.tensor(end_token_ids(model, tokenizer), device=device)
    banned = torch.tensor(suppressed_token_ids(tokenizer, family_of(model).vision_tokens), dtype=torch.long,
                          device=device)
    was_training = model.training
    model.eval()
    try:
        cache, last_hidden, next_pos = prefill(trunk, batch)  # one prefill per prompt
        rows = torch.arange(batch["input_ids"].shape[0], device=device).repeat_interleave(num_generations)
        repeat_rows(cache, rows)  # the group's G samples share the prompt's cache
        attn = batch["attention_mask"][rows]  # [N, P]
        logits = head(last_hidden[rows])  # [N, V]
        done = torch.zeros(len(rows), dtype=torch.bool, device=device)
        tokens = []
        for t in range(max_new_tokens):
            logits[:, banned] = float("-inf")
            tok = next_tokens(logits, do_sample, temperature, top_p, generator)  # [N]
            tok = tok.masked_fill(done, tokenizer.pad_token_id)
            tokens.append(tok)
            done |= torch.isin(tok, end_ids)
            if (all_done(done) if all_done is not None else bool(done.all())) or t == max_new_tokens - 1:
                break
            attn = torch.cat([attn, torch.ones_like(attn[:, :1])], dim=1)  # [N, P + t + 1]
            hidden = extend(trunk, cache, attn, tok[:, None], next_pos[rows] + t)  # [N, 1, H]
            logits = head(hidden[:, -1])
    finally:
        model.train(was_training)
    completion_ids = torch.stack(tokens, dim=1)  # [N, C]
    mask, truncated = completion_mask(completion_ids, end_ids.tolist())
    texts = tokenizer.batch_decode(completion_ids.masked_fill(mask == 0, tokenizer.pad_token_id),
                                   skip_special_tokens=True)
    return Rollout(prompt=batch, prompt_index=rows, completion_ids=completion_ids, completion_mask=mask,
                   texts=texts, truncated=truncated)
