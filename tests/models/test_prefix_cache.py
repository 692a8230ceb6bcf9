"""The update's prompt cache is read-only: a layer run again (as checkpointing recomputes it in
backward) reads the same prompt keys/values as its first run. A DynamicCache, which every
forward extends, would not: the control below shows the difference."""
from __future__ import annotations

import torch
from PIL import Image
from transformers import DynamicCache

from gpg_vl.models.forward import base_and_head, extend, prefill, prefix_cache, recorded_prefix
from gpg_vl.processing import encode_prompts


def test_a_second_run_over_the_recorded_prefix_sees_the_same_prompt(policy_factory):
    model, processor, _ = policy_factory("qwen2_vl")
    model.eval()
    trunk, _ = base_and_head(model)
    batch = encode_prompts(processor, [{"id": "a", "images": [Image.new("RGB", (56, 56), (200, 30, 30))],
                                        "problem": "What colour?"}, {"id": "b", "images": [], "problem": "Hi"}])
    rows = torch.tensor([0, 0, 1])
    tokens = torch.randint(20, 200, (3, 4), generator=torch.Generator().manual_seed(0))  # [N, T]
    attn = torch.cat([batch["attention_mask"][rows], torch.ones_like(tokens)], 1)
    with torch.no_grad():
        recorded, _, next_pos = prefill(trunk, batch, prefix_cache())
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
