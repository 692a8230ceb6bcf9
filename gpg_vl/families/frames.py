"""Box coordinate frames and the processor's resize rule (pure Python: no torch).

Frames, named after the family that introduced them (the names are the data's ``box_format``
values):
- ``qwen2_vl``: 0-1000 relative to the image on both axes (Qwen2-VL, and Qwen3-VL / Qwen3.5:
  "relative position coordinates", QwenLM/Qwen3-VL README and evaluation/ODinW-13/run_odinw.py,
  which divides by 1000 and multiplies by the original size),
- ``qwen2_5_vl``: absolute pixels of the processor-resized image (Qwen2.5-VL), mapped back with
  the processor's own resize rule (both sides multiples of patch x merge = 28),
- ``pixels``: original-image pixels.
"""
from __future__ import annotations

import math

BOX_FRAMES = ("qwen2_vl", "qwen2_5_vl", "pixels")
# Frames written in pixels of the processor-resized image: scoring needs that size.
RESIZED_FRAMES = ("qwen2_5_vl",)


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
    if frame in RESIZED_FRAMES:
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
