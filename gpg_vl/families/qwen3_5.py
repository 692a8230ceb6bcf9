"""Qwen3.5 dense (``qwen3_5``): natively multimodal, Qwen3-VL's vision tower without deepstack
(patch 16, boxes 0-1000 relative), and a hybrid language model: three Gated DeltaNet
linear-attention layers (a convolution state and a recurrent state per row) to each full-attention
layer. The shared-prefix forward copies those states per row (``models.cache.repeat_rows``).
Its chat template reasons by default; ``enable_thinking=false`` writes an empty think block.
"""
from __future__ import annotations

from gpg_vl.families import templates
from gpg_vl.families.base import Family, pooled_output, pooled_per_image, token_ids
from gpg_vl.families.qwen3_vl import build_processor, text_config, vision_config

# Tiny linear-attention sizes (the 2B release: 16 key heads and 16 value heads of 128).
TINY_LINEAR = dict(linear_conv_kernel_dim=4, linear_key_head_dim=32, linear_value_head_dim=32,
                   linear_num_key_heads=2, linear_num_value_heads=4, full_attention_interval=2)


def tiny_config(tokenizer, text: dict, vision: dict):
    from transformers import Qwen3_5Config

    # Releases rotate a quarter of each head (partial_rotary_factor 0.25, mrope [11, 11, 10]).
    txt = {**text_config(tokenizer, text, partial_rotary=0.25), **TINY_LINEAR}
    return Qwen3_5Config(text_config=txt, vision_config=vision_config(text, vision), **token_ids(tokenizer))


FAMILY = Family(
    name="qwen3_5", recipe_prefix="qwen35", name_pattern=r"qwen3\.5-(\d+)b", box_frame="qwen2_vl", patch_size=16,
    min_pixels=64 * 32 * 32, max_pixels=16384 * 32 * 32,  # assumed: Qwen3-VL's processor defaults
    thinking_switch="enable_thinking", base_pattern=r"-base",
    chat_template=templates.QWEN3_5, tiny_config=tiny_config, build_processor=build_processor,
    split_features=pooled_per_image, join_features=pooled_output,
)
