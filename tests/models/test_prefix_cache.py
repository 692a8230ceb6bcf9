"""The update's prompt cache under gradient checkpointing, for every family.

Checkpointing recomputes each decoder layer in backward. The grouped update prefills each prompt
once and feeds its rows' completions after it, so the recomputed layers must read the prompt's
state as the first run did: keys/values for attention layers, and for Qwen3.5's Gated DeltaNet
layers the convolution and recurrent states (``models.cache.prefix_cache`` / ``recorded_prefix``).
Reference: the plain forward over prompt + completion per row (no cache, no checkpointing).
"""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from transformers import DynamicCache

from gpg_vl.families import FAMILIES
from gpg_vl.models.cache import prefix_cache, recorded_prefix
from gpg_vl.models.forward import (base_and_head, completion_logprobs, enable_checkpointing, extend,
                                   grouped_completion_logprobs, prefill)
from gpg_vl.processing import encode_prompts, repeat_for_group

from test_forward import G, completions, loss_and_grads, samples

FLOAT32_ONLY = {"qwen3_5", "qwen3_vl_moe"}


@pytest.mark.parametrize("length", [2, 5])  # 2: one token after the prompt (the models' one-token paths)
@pytest.mark.parametrize("family", FAMILIES)
def test_checkpointed_grouped_update_in_train_mode_equals_the_plain_forward(policy_factory, family, length):
    model, processor, _ = policy_factory(family)
    batch = encode_prompts(processor, samples())
    ids = completions(processor, 3 * G, length)
    mask = torch.ones_like(ids)
    mask[1, length - 1:] = 0  # one row ends early
    rows = torch.arange(3).repeat_interleave(G)
    model.eval()
    rep = repeat_for_group(batch, G, model.config.image_token_id)
    ref, ref_grads = loss_and_grads(model, completion_logprobs(model, rep, ids, mask))

    assert enable_checkpointing(model) > 0
    model.train()  # the mode in which transformers' own checkpointing drops the cache
    model.zero_grad(set_to_none=True)
    out, grads = loss_and_grads(model, grouped_completion_logprobs(model, batch, rows, ids, mask))

    assert (out - ref).abs().max() <= 1e-4
    assert set(grads) == set(ref_grads)
    tol = 1e-3 if family in FLOAT32_ONLY else 2e-4
    for name, g in ref_grads.items():
        scale = max(1.0, float(g.abs().max()))
        assert (grads[name] - g).abs().max() <= tol * scale, name


def test_a_second_run_over_the_recorded_prefix_sees_the_same_prompt(policy_factory):
    """A layer run again (as checkpointing recomputes it in backward) reads the same prompt
    keys/values as its first run. A DynamicCache, which every forward extends, would not: the
    control below shows the difference."""
    model, processor, _ = policy_factory("qwen2_vl")
    model.eval()
    trunk, _ = base_and_head(model)
    batch = encode_prompts(processor, [{"id": "a", "images": [Image.new("RGB", (56, 56), (200, 30, 30))],
                                        "problem": "What colour?"}, {"id": "b", "images": [], "problem": "Hi"}])
    rows = torch.tensor([0, 0, 1])
    tokens = torch.randint(20, 200, (3, 4), generator=torch.Generator().manual_seed(0))  # [N, T]
    attn = torch.cat([batch["attention_mask"][rows], torch.ones_like(tokens)], 1)
    with torch.no_grad():
        recorded, _, next_pos = prefill(trunk, batch, prefix_cache(trunk))
        length = recorded.get_seq_length()
        cache = recorded_prefix(recorded, rows)
        first = extend(trunk, cache, attn, tokens, next_pos[rows])  # [N, T, H]
        again = extend(trunk, cache, attn, tokens, next_pos[rows])
        assert cache.get_seq_length() == length == batch["input_ids"].shape[1]  # nothing was appended
        torch.testing.assert_close(again, first, rtol=0, atol=0)

        growing, _, _ = prefill(trunk, batch, DynamicCache(config=trunk.config))  # the control
        growing.batch_select_indices(rows)
        extend(trunk, growing, attn, tokens, next_pos[rows])
        assert growing.get_seq_length() == length + tokens.shape[1]  # a rerun would see the tokens twice
