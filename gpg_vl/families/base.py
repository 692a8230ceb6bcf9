"""The record every model family fills in, and what the Qwen families share.

A family module (``gpg_vl/families/<model_type>.py``) defines one :class:`Family`: plain fields
for what other code reads (patch and merge size, pixel limits, end and vision tokens, box frame,
chat-template switches) and functions for what differs in code (the tiny config, the
processor, and the adapter between encoded images and the language model's vision inputs).
Pure Python at import time: torch and transformers are imported inside the functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# Qwen's chat special tokens, shared by every Qwen-VL release (tokenizer_config.json).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
# Tokens that only the processor may place: never sampled (an emitted <|image_pad|> makes the next
# forward fail, the placeholder count no longer matching the image features).
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
# What every Qwen-VL chat template writes for one image; the processor expands <|image_pad|> into
# the image's tokens. A raw (non-chat) prompt puts it where data.prompt_template says {image}.
IMAGE_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"


def _no_tiny(*_args, **_kwargs):
    raise NotImplementedError("this family has no tiny config")


@dataclass(frozen=True)
class Family:
    """What differs between model families; one record per family module."""

    name: str  # the family's name, equal to its config.model_type
    box_frame: str  # frame its grounding answers are written in (families.frames.BOX_FRAMES)
    patch_size: int  # vision patch side in pixels
    merge_size: int = 2  # merge x merge patches become one language-model token
    min_pixels: int = 4 * 28 * 28  # the release's preprocessor_config.json size limits
    max_pixels: int = 16384 * 28 * 28
    vision_prefix: str = "model.visual"  # module path of the vision tower (transformers 5 layout)
    end_tokens: tuple[str, ...] = ("<|im_end|>",)  # besides generation_config.eos_token_id
    vision_tokens: tuple[str, ...] = VISION_TOKENS  # never sampled
    chat_template: str = ""  # the release's chat template (the tiny models carry it)
    # recipe names: configs/<task>_<recipe_prefix>_<size>b.yaml; release names match name_pattern
    # (group 1: the size in billions), e.g. Qwen/Qwen3-VL-4B-Instruct
    recipe_prefix: str = ""
    name_pattern: str = ""
    # a base (pre-trained only) release's name matches this: Qwen2-VL-2B (no "Instruct"), Qwen3.5-2B-Base
    base_pattern: str = r"^(?!.*(instruct|thinking))"
    # chat-template keyword that switches reasoning on/off (Qwen3.5's ``enable_thinking``), if any
    thinking_switch: str | None = None
    # (tokenizer, text overrides, vision overrides) -> config of the real class with tiny sizes
    tiny_config: Callable = field(default=_no_tiny, repr=False)
    # (tokenizer, min_pixels, max_pixels) -> the family's real processor class
    build_processor: Callable = field(default=_no_tiny, repr=False)
    # get_image_features output -> one entry per image (what processing.select_rows moves around)
    split_features: Callable = field(default=None, repr=False)
    # list of per-image entries -> the ``mm_encoder_outputs["image"]`` the trunk's forward takes
    join_features: Callable = field(default=None, repr=False)

    def chat_template_kwargs(self, thinking: bool | None) -> dict:
        """Keywords for ``apply_chat_template`` that set reasoning on/off (None: the default)."""
        if thinking is None:
            return {}
        if self.thinking_switch is None:
            raise ValueError(f"data.thinking={thinking}: the {self.name} chat template has no reasoning switch "
                             "(use a Thinking or Instruct checkpoint instead, or leave data.thinking unset)")
        return {self.thinking_switch: thinking}

    @property
    def model_type(self) -> str:
        return self.name

    @property
    def resize_factor(self) -> int:
        """Image sides are resized to multiples of this (patch x merge)."""
        return self.patch_size * self.merge_size


def pooled_per_image(output) -> list:
    """Qwen2-shaped vision output: one [tokens_i, H] tensor per image."""
    return [f.detach() for f in output.pooler_output]


def pooled_output(entries: list):
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    return BaseModelOutputWithPooling(pooler_output=tuple(entries))


def mrope_section(rotary_dim: int, weights: tuple[int, int, int]) -> list[int]:
    """Split ``rotary_dim / 2`` frequencies over (t, h, w) in the releases' proportions."""
    half = rotary_dim // 2
    total = sum(weights)
    h = half * weights[1] // total
    w = half * weights[2] // total
    return [half - h - w, h, w]


def token_ids(tokenizer) -> dict:
    """The config's vision token ids, read from the tokenizer."""
    return {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")]}


def text_ids(tokenizer) -> dict:
    return dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
                eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tokenizer.pad_token_id)
