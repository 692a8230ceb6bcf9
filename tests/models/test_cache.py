"""The shared-prefix cache of a hybrid model (Qwen3.5: Gated DeltaNet layers with a convolution
and a recurrent state per row, between full-attention layers): every row gets its prompt's states,
and a loss through continued rows reaches the prompt (no in-place overwrite of a saved state)."""
from __future__ import annotations

import torch
from PIL import Image

from gpg_vl.models.cache import repeat_rows
from gpg_vl.models.forward import base_and_head, extend, prefill
from gpg_vl.processing import encode_prompts


def linear_layers(cache) -> list:
    return [layer for layer in cache.layers if hasattr(layer, "recurrent_states")]


def test_each_row_gets_its_prompt_s_linear_attention_states(policy_factory):
    model, processor, _ = policy_factory("qwen3_5")
    samples = [{"id": "a", "images": [Image.new("RGB", (64, 64), (200, 10, 10))], "problem": "What colour?"},
               {"id": "b", "images": [], "problem": "Hi there"}]
    batch = encode_prompts(processor, samples)
    trunk, head = base_and_head(model)
    with torch.no_grad():
        cache, last, next_pos = prefill(trunk, batch)
    layers = linear_layers(cache)
    assert layers and all(layer.recurrent_states[0].shape[0] == 2 for layer in layers)
    before = [(layer.conv_states[0].clone(), layer.recurrent_states[0].clone()) for layer in layers]
    assert not torch.equal(before[0][1][0], before[0][1][1])  # the two prompts' states differ
    rows = torch.tensor([1, 0, 0, 1])
    repeat_rows(cache, rows)
    for layer, (conv, rec) in zip(layers, before):
        assert torch.equal(layer.conv_states[0], conv[rows]) and torch.equal(layer.recurrent_states[0], rec[rows])
    assert cache.get_seq_length() == batch["input_ids"].shape[1]  # the attention layers' keys follow too


def test_a_loss_through_continued_rows_reaches_the_prompt(policy_factory):
    model, processor, _ = policy_factory("qwen3_5")
    batch = encode_prompts(processor, [{"id": "b", "images": [], "problem": "Hi"}])
    trunk, head = base_and_head(model)
    cache, last, next_pos = prefill(trunk, batch)
    repeat_rows(cache, torch.tensor([0, 0]))
    tokens = torch.tensor([[30, 31, 32], [33, 34, 35]])
    attn = torch.cat([batch["attention_mask"].repeat(2, 1), torch.ones_like(tokens)], 1)
    hidden = extend(trunk, cache, attn, tokens, next_pos.repeat(2))  # [2, 3, H]
    hidden.sum().backward()  # the stock cache layer fails here: its state was overwritten in place
    embed = trunk.get_input_embeddings().weight.grad
    prompt_ids = batch["input_ids"][0].unique()
    assert embed is not None and embed[prompt_ids].abs().sum() > 0  # the prompt tokens got gradient
