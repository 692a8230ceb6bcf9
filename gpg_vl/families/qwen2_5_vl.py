"""Qwen2.5-VL (``qwen2_5_vl``): patch 14, boxes in pixels of the resized image, windowed SwiGLU
vision tower; Qwen2-VL's chat template."""
from __future__ import annotations

from gpg_vl.families import templates
from gpg_vl.families.base import Family, pooled_output, pooled_per_image, token_ids
from gpg_vl.families.qwen2_vl import qwen2_processor, text_config


def tiny_config(tokenizer, text: dict, vision: dict):
    from transformers import Qwen2_5_VLConfig

    vis = dict(depth=vision["depth"], hidden_size=vision["embed_dim"], num_heads=vision["num_heads"],
               intermediate_size=vision["embed_dim"] * vision["mlp_ratio"],
               out_hidden_size=text["hidden_size"], fullatt_block_indexes=[vision["depth"] - 1],
               window_size=112)
    return Qwen2_5_VLConfig(text_config=text_config(tokenizer, text), vision_config=vis, **token_ids(tokenizer))


FAMILY = Family(
    name="qwen2_5_vl", recipe_prefix="qwen25vl", name_pattern=r"qwen2\.5-vl-(\d+)b", box_frame="qwen2_5_vl", patch_size=14,
    min_pixels=4 * 28 * 28, max_pixels=16384 * 28 * 28,  # Qwen2.5-VL-3B-Instruct preprocessor_config.json
    tiny_config=tiny_config, chat_template=templates.QWEN2_VL,
    build_processor=qwen2_processor("Qwen2_5_VLProcessor", 14),
    split_features=pooled_per_image, join_features=pooled_output,
)
