"""Qwen3-VL MoE (``qwen3_vl_moe``, e.g. Qwen3-VL-30B-A3B): Qwen3-VL's vision tower, deepstack,
frame and template, with sparse expert MLPs in the language model. What it needed beyond
``qwen3_vl``: this record and its tiny config. The GPG loss is the policy gradient alone: the
router's load-balancing loss (transformers adds it only with labels and output_router_logits) is
not added, so the router learns from the reward only (as the grouped forward computes the trunk
without the LM head's loss).
"""
from __future__ import annotations

from dataclasses import replace

from gpg_vl.families import templates
from gpg_vl.families.base import token_ids
from gpg_vl.families.qwen3_vl import FAMILY as QWEN3_VL
from gpg_vl.families.qwen3_vl import text_config, vision_config

# Tiny experts (Qwen3-VL-30B-A3B: 128 experts of 768, 8 per token).
TINY_MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=128, decoder_sparse_step=1)


def tiny_config(tokenizer, text: dict, vision: dict):
    from transformers import Qwen3VLMoeConfig

    vis = vision_config(text, vision, deepstack_visual_indexes=list(range(vision["depth"])))
    return Qwen3VLMoeConfig(text_config={**text_config(tokenizer, text), **TINY_MOE}, vision_config=vis,
                            **token_ids(tokenizer))


FAMILY = replace(QWEN3_VL, name="qwen3_vl_moe", recipe_prefix="qwen3vlmoe",
                 name_pattern=r"qwen3-vl-(\d+)b-a\d+b", chat_template=templates.QWEN3_VL, tiny_config=tiny_config)
