"""Model-family quirks of Qwen2-VL and Qwen2.5-VL, in one place.

Everything else in gpg-vl asks this module instead of matching on model names:
- the box coordinate frame a family writes its grounding answers in
  (Qwen2-VL: 0-1000 normalised; Qwen2.5-VL: absolute pixels of the processor-resized image),
- the processor's resize rule (both sides multiples of patch * merge = 28, area within
  [min_pixels, max_pixels]) used to map Qwen2.5-VL boxes back to the original image,
- the vision special tokens that must never be sampled (an emitted ``<|image_pad|>`` makes the
  next forward fail: the placeholder count no longer matches the image features),
- default pixel limits.

Pure Python: no torch, so verifiers and data code can import it cheaply.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from gpg_vl.errors import ModelError

# Qwen's chat special tokens, shared by both families (tokenizer_config.json of the releases).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
# Tokens that only the processor may place: suppressed while sampling.
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")

BOX_FRAMES = ("qwen2_vl", "qwen2_5_vl", "pixels")
# What both families' chat templates write for one image; the processor expands <|image_pad|>
# into the image's tokens. A raw (non-chat) prompt puts it where data.prompt_template says {image}.
IMAGE_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"


@dataclass(frozen=True)
class Family:
    """What differs between the supported model families."""

    name: str
    model_type: str  # config.model_type of the transformers class
    box_frame: str  # one of BOX_FRAMES
    patch_size: int = 14
    merge_size: int = 2
    vision_prefix: str = "model.visual"  # module path of the vision tower (transformers 5 layout)
    min_pixels: int = 4 * 28 * 28  # the releases' preprocessor_config.json defaults
    max_pixels: int = 16384 * 28 * 28

    @property
    def resize_factor(self) -> int:
        return self.patch_size * self.merge_size


FAMILIES = {
    "qwen2_vl": Family(name="qwen2_vl", model_type="qwen2_vl", box_frame="qwen2_vl"),
    "qwen2_5_vl": Family(name="qwen2_5_vl", model_type="qwen2_5_vl", box_frame="qwen2_5_vl"),
}


def get_family(name_or_model_type: str) -> Family:
    """The family of a model, by family name or by its config's ``model_type``."""
    for fam in FAMILIES.values():
        if name_or_model_type in (fam.name, fam.model_type):
            return fam
    raise ModelError(
        f"unsupported model family {name_or_model_type!r}; supported: {sorted(FAMILIES)}"
    )


def smart_resize(height: int, width: int, factor: int = 28,
                 min_pixels: int | None = None, max_pixels: int | None = None) -> tuple[int, int]:
    """The processor's resize rule (same as qwen_vl_utils / Qwen2VLImageProcessor).

    Both sides become multiples of ``factor`` and the area lies within [min_pixels, max_pixels],
    keeping the aspect ratio as closely as possible. Returns (height, width).
    """
    min_pixels = 4 * factor * factor if min_pixels is None else min_pixels
    max_pixels = 16384 * factor * factor if max_pixels is None else max_pixels
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def resized_size(image_size: tuple[int, int], min_pixels: int | None = None,
                 max_pixels: int | None = None, factor: int = 28) -> tuple[int, int]:
    """(W, H) of the image as the processor resizes it, from its original (W, H)."""
    w, h = image_size
    rh, rw = smart_resize(h, w, factor, min_pixels, max_pixels)
    return rw, rh


def _scale(frame: str, image_size, resized: tuple[int, int] | None) -> tuple[float, float]:
    """Frame units per original pixel along x and y."""
    w, h = image_size
    if frame == "pixels":
        return 1.0, 1.0
    if frame == "qwen2_vl":
        return 1000.0 / w, 1000.0 / h
    if frame == "qwen2_5_vl":
        if resized is None:
            resized = resized_size((w, h))
        return resized[0] / w, resized[1] / h
    raise ValueError(f"unknown box frame {frame!r}; expected one of {BOX_FRAMES}")


def box_to_pixels(box, frame: str, image_size, resized: tuple[int, int] | None = None) -> list[float]:
    """A box [x1, y1, x2, y2] written in ``frame`` -> original-image pixels.

    ``image_size`` is the original (W, H); ``resized`` the processor-resized (W, H) for the
    qwen2_5_vl frame (computed with the default pixel limits when not given).
    """
    sx, sy = _scale(frame, image_size, resized)
    x1, y1, x2, y2 = box
    return [x1 / sx, y1 / sy, x2 / sx, y2 / sy]


def box_from_pixels(box, frame: str, image_size, resized: tuple[int, int] | None = None) -> list[float]:
    """An original-pixel box [x1, y1, x2, y2] -> the same box written in ``frame``."""
    sx, sy = _scale(frame, image_size, resized)
    x1, y1, x2, y2 = box
    return [x1 * sx, y1 * sy, x2 * sx, y2 * sy]
