"""Qwen3-VL dense (``qwen3_vl``): patch 16 (resize factor 32), boxes 0-1000 relative to the image,
and deepstack: features from several vision layers are added to the first decoder layers' hidden
states at the image positions (transformers ``Qwen3VLTextModel._deepstack_process``), so encoded
images carry those features too. Thinking checkpoints' templates open ``<think>`` themselves.
"""
from __future__ import annotations

from gpg_vl.families import templates
from gpg_vl.families.base import Family, mrope_section, text_ids, token_ids


def text_config(tokenizer, text: dict, partial_rotary: float = 1.0) -> dict:
    """Text sizes with interleaved M-RoPE in the releases' [24, 20, 20] proportions."""
    head_dim = text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_interleaved": True,
            "mrope_section": mrope_section(int(head_dim * partial_rotary), (24, 20, 20))}
    if partial_rotary != 1.0:
        rope["partial_rotary_factor"] = partial_rotary
    return dict(rope_parameters=rope, head_dim=head_dim, **text_ids(tokenizer), **text)


def vision_config(text: dict, vision: dict, **extra) -> dict:
    return dict(depth=vision["depth"], hidden_size=vision["embed_dim"], num_heads=vision["num_heads"],
                intermediate_size=vision["embed_dim"] * vision["mlp_ratio"], out_hidden_size=text["hidden_size"],
                patch_size=16, num_position_embeddings=64, **extra)


def tiny_config(tokenizer, text: dict, vision: dict):
    from transformers import Qwen3VLConfig

    vis = vision_config(text, vision, deepstack_visual_indexes=list(range(vision["depth"])))
    return Qwen3VLConfig(text_config=text_config(tokenizer, text), vision_config=vis, **token_ids(tokenizer))


def build_processor(tokenizer, min_pixels: int, max_pixels: int):
    """Qwen3VLProcessor (Qwen3.5 uses it too) around the local tokenizer and its chat template."""
    from transformers import Qwen3VLProcessor
    from transformers.models.qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen3_vl import Qwen3VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
                                            patch_size=16, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    return Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                            video_processor=Qwen3VLVideoProcessor(), chat_template=tokenizer.chat_template)


def split_deepstack(output) -> list[tuple]:
    """Per image: (pooled [tokens_i, H], deepstack layer 1 [tokens_i, H], layer 2, ...)."""
    per_layer = [layer for layer in output.deepstack_features]  # [layers][images] of [tokens_i, H]
    return [tuple(t.detach() for t in (pooled, *(layer[i] for layer in per_layer)))
            for i, pooled in enumerate(output.pooler_output)]


def join_deepstack(entries: list[tuple]):
    """Per-image entries -> the vision output ``Qwen3VLModel.forward`` reads (pooled + deepstack)."""
    from transformers.models.qwen3_vl.modeling_qwen3_vl import BaseModelOutputWithDeepstackFeatures

    layers = len(entries[0]) - 1
    return BaseModelOutputWithDeepstackFeatures(
        pooler_output=tuple(e[0] for e in entries),
        deepstack_features=[tuple(e[k + 1] for e in entries) for k in range(layers)])


FAMILY = Family(
    name="qwen3_vl", recipe_prefix="qwen3vl", name_pattern=r"qwen3-vl-(\d+)b", box_frame="qwen2_vl", patch_size=16,
    min_pixels=64 * 32 * 32, max_pixels=16384 * 32 * 32,  # Qwen3-VL-2B-Instruct preprocessor_config.json
    chat_template=templates.QWEN3_VL, tiny_config=tiny_config, build_processor=build_processor,
    split_features=split_deepstack, join_features=join_deepstack,
)
