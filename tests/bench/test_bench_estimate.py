"""The paper estimates of docs/performance.md: parameter counts against the real transformers
classes (built on the meta device, no weights), and hand-checked FLOP / memory figures."""
from __future__ import annotations

import pytest
import torch

from gpg_vl.bench.estimate import (QWEN2_5_VL_7B, QWEN2_VL_2B, StepShape, llm_flops, memory_gb, phase_costs,
                                   tables, vision_flops)


def released_config(spec):
    """The released checkpoint's configuration (config.json of the Instruct models), by hand."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig

    text = dict(hidden_size=spec.hidden, intermediate_size=spec.intermediate, num_hidden_layers=spec.layers,
                num_attention_heads=spec.heads, num_key_value_heads=spec.kv_heads, vocab_size=spec.vocab,
                tie_word_embeddings=spec.tied)
    if spec is QWEN2_VL_2B:
        vision = dict(depth=32, embed_dim=1280, mlp_ratio=4, num_heads=16, hidden_size=spec.hidden)
        return Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=spec.tied)
    vision = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=spec.hidden,
                  window_size=112, fullatt_block_indexes=[7, 15, 23, 31])
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=spec.tied)


@pytest.mark.parametrize("spec", [QWEN2_VL_2B, QWEN2_5_VL_7B], ids=lambda s: s.name)
def test_parameter_counts_match_the_real_classes(spec):
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(released_config(spec))
    real = {"vision": sum(p.numel() for n, p in model.named_parameters() if ".visual." in n or n.startswith("visual")),
            "all": sum(p.numel() for p in model.parameters())}
    ours = spec.params()
    assert ours["vision"] == pytest.approx(real["vision"], rel=0.01)
    assert sum(ours.values()) == pytest.approx(real["all"], rel=0.01)


def test_hand_checked_flops_and_memory():
    m, s = QWEN2_VL_2B, StepShape()  # 8 prompts x G 8, 448 px (1024 patches, 256 tokens), 64 text, 512 new
    assert s.patches == 1024 and s.prompt_tokens == 320
    # One 448 px image: 32 blocks x 2 x 1024 x (4 d^2 + 2 d 5120), full attention 4 x 1024^2 x d, merger.
    d = 1280
    hand = 32 * 2 * 1024 * (4 * d * d + 2 * d * 5120) + 32 * 4 * 1024 * 1024 * d + 2 * 256 * (16 * d * d + 4 * d * 1536)
    assert vision_flops(m, 1024) == hand
    assert llm_flops(m, 1, 0) == 2 * m.layers * m.llm_layer_params()
    rep, ours = phase_costs(m, s, repeat=True), phase_costs(m, s, repeat=False)
    assert ours["gen_vision"] * 8 == rep["gen_vision"] and ours["gen_prefill"] * 8 == rep["gen_prefill"]
    assert ours["gen_decode"] == rep["gen_decode"]  # decoding is per completion either way
    assert ours["upd_flops"] < 0.5 * rep["upd_flops"]
    # ZeRO-2: bf16 weights replicated, grads + fp32 optimizer states split 8 ways.
    total = sum(m.params().values())
    assert memory_gb(m, s, zero=2)["states"] == pytest.approx((2 * total + 14 * total / 8) / 1e9)
    assert memory_gb(m, s, zero=3)["states"] == pytest.approx(16 * total / 8 / 1e9)


def test_tables_render_both_models():
    text = tables()
    assert "### Qwen2-VL-2B" in text and "### Qwen2.5-VL-7B" in text and "| G = 16 |" in text
