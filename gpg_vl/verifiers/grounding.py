"""``grounding_iou``: a predicted box against the ground-truth box.

Returns the IoU in [0, 1] (``reward="iou"``), or 1.0/0.0 for IoU >= ``threshold``
(``reward="threshold"``). Boxes are read from the answer as ``[x1, y1, x2, y2]`` or
``(x1,y1),(x2,y2)``, integers or decimals. With ``boxes="single"`` (default) an answer holding
more than one box scores 0; ``first`` scores the first box, ``best`` the best of them.

Coordinate frames (issue 3: Qwen2-VL and Qwen2.5-VL write boxes differently), option ``frame``
or the per-item column ``box_format``:
- ``qwen2_vl``: 0-1000 normalised;
- ``qwen2_5_vl``: absolute pixels of the processor-resized image, mapped back to the original
  with the processor's own resize rule (``gpg_vl.families``; column ``resized_size`` [W, H], or
  computed from ``image_size`` with the ``min_pixels``/``max_pixels`` options);
- ``pixels``: original-image pixels.
Both boxes are clipped to the image. A box with x1 > x2 or y1 > y2, or zero area, scores 0
without an error -- VLM-R1's IoU divided by zero on such boxes.

Columns: ``bbox`` (ground truth, original pixels), ``image_size`` [W, H], optional
``resized_size`` [W, H] and ``box_format``.
"""
from __future__ import annotations

import math

from gpg_vl import families
from gpg_vl.families import BOX_FRAMES
from gpg_vl.verifiers.parsing import ANSWER_SOURCES, parse_boxes, select_answer
from gpg_vl.verifiers.registry import register_scorer

Box = tuple[float, float, float, float]


def clip_box(box, width: float, height: float) -> Box:
    """``box`` with every coordinate clamped into the image [0, W] x [0, H]."""
    x1, y1, x2, y2 = box
    return (min(max(x1, 0.0), width), min(max(y1, 0.0), height),
            min(max(x2, 0.0), width), min(max(y2, 0.0), height))


def box_area(box) -> float:
    """Area of ``box``; 0 for a reversed (x1 > x2 or y1 > y2) or degenerate box."""
    x1, y1, x2, y2 = box
    return max(0.0, x2 - x1) * max(0.0, y2 - y1) if x2 > x1 and y2 > y1 else 0.0


def box_iou(a, b) -> float:
    """Intersection over union of two boxes; 0 when either has no area (never divides by 0)."""
    if box_area(a) == 0.0 or box_area(b) == 0.0:
        return 0.0
    inter = box_area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    return inter / (box_area(a) + box_area(b) - inter)


def _size(value, name: str) -> tuple[float, float]:
    """A [W, H] column value, checked: two positive finite numbers."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{name} must be [W, H], got {value!r}")
    w, h = (float(v) for v in value)
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return w, h


def _optional_pixels(v) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0)


@register_scorer("grounding_iou", required=("bbox", "image_size"), checks={
    "answer_source": ANSWER_SOURCES, "frame": BOX_FRAMES, "reward": ("iou", "threshold"),
    "boxes": ("single", "first", "best"), "min_pixels": _optional_pixels,
    "max_pixels": _optional_pixels,
    "threshold": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1,
})
def score_grounding_iou(completion: str, bbox, image_size, resized_size=None, box_format=None, *,
                        answer_source: str = "block", frame: str = "qwen2_vl", reward: str = "iou",
                        threshold: float = 0.5, boxes: str = "single", min_pixels: int | None = None,
                        max_pixels: int | None = None) -> float:
    """IoU of the predicted box with ``bbox`` (or 1/0 at ``threshold``); module docstring."""
    frame = box_format or frame
    if frame not in BOX_FRAMES:
        raise ValueError(f"box_format {frame!r} is not one of {BOX_FRAMES}")
    width, height = _size(image_size, "image_size")
    gold = clip_box([float(v) for v in bbox], width, height)
    if box_area(gold) == 0.0:
        raise ValueError(f"ground-truth bbox {bbox!r} has no area inside the image")
    text = select_answer(completion, answer_source)
    predicted = parse_boxes(text) if text else []
    if not predicted or (boxes == "single" and len(predicted) > 1):
        return 0.0
    if frame == "qwen2_5_vl":
        resized = (_size(resized_size, "resized_size") if resized_size is not None else
                   families.resized_size((round(width), round(height)), min_pixels, max_pixels))
    else:
        resized = None
    candidates = predicted if boxes == "best" else predicted[:1]
    best = max(box_iou(clip_box(families.box_to_pixels(box, frame, (width, height), resized),
                                width, height), gold) for box in candidates)
    if reward == "threshold":
        return 1.0 if best >= threshold else 0.0
    return best
