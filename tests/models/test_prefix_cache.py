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

from gpg_vl.families import FAMILIES
from gpg_vl.models.forward import completion_logprobs, enable_checkpointing, grouped_completion_logprobs
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
