"""Qwen2-VL (``qwen2_vl``): patch 14, boxes 0-1000, GELU vision MLP, a default system message."""
from __future__ import annotations

from gpg_vl.families import templates
from gpg_vl.families.base import Family, pooled_output, pooled_per_image, text_ids, token_ids


def text_config(tokenizer, text: dict) -> dict:
    """Text sizes plus M-RoPE: head_dim/2 rotary frequencies over (t, h, w); releases use
    [16, 24, 24] of 64, the tiny models [h/2 - 4q, 2q, 2q] with q = head_dim / 8."""
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    quarter = head_dim // 8
    mrope = [head_dim // 2 - 4 * quarter, 2 * quarter, 2 * quarter]
    return dict(rope_scaling={"type": "mrope", "mrope_section": mrope},
                rope_theta=10000.0, **text_ids(tokenizer), **text)


def tiny_config(tokenizer, text: dict, vision: dict):
    from transformers import Qwen2VLConfig

    vis = dict(depth=vision["depth"], embed_dim=vision["embed_dim"], num_heads=vision["num_heads"],
               mlp_ratio=vision["mlp_ratio"], hidden_size=text["hidden_size"])
    return Qwen2VLConfig(text_config=text_config(tokenizer, text), vision_config=vis, **token_ids(tokenizer))


def qwen2_processor(processor_class, patch_size: int):
    """A builder of ``processor_class`` around the local tokenizer (and its chat template),
    with Qwen2-VL's image processor."""
    def build(tokenizer, min_pixels: int, max_pixels: int):
        import transformers
        from transformers.models.qwen2_vl import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        image_processor = Qwen2VLImageProcessor(size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
                                                patch_size=patch_size)
        return getattr(transformers, processor_class)(
            image_processor=image_processor, tokenizer=tokenizer,
            video_processor=Qwen2VLVideoProcessor(patch_size=patch_size),
            chat_template=tokenizer.chat_template)
    return build


FAMILY = Family(
    name="qwen2_vl", recipe_prefix="qwen2vl", name_pattern=r"qwen2-vl-(\d+)b", box_frame="qwen2_vl", patch_size=14,
    min_pixels=4 * 28 * 28, max_pixels=16384 * 28 * 28,  # Qwen2-VL-2B-Instruct preprocessor_config.json
    tiny_config=tiny_config, chat_template=templates.QWEN2_VL,
    build_processor=qwen2_processor("Qwen2VLProcessor", 14),
    split_features=pooled_per_image, join_features=pooled_output,
)
