"""``grounding_iou``: a predicted box against the ground-truth box.

Returns the IoU in [0, 1] (``reward="iou"``), 1.0/0.0 for IoU >= ``threshold``
(``reward="threshold"``), or GIoU + 1 in [0, 2] (``reward="giou"``: Visual-RFT's LISA reward,
see :func:`box_giou`). Boxes are read from the answer as ``[x1, y1, x2, y2]`` or
``(x1,y1),(x2,y2)``, integers or decimals. With ``boxes="single"`` (default) an answer holding
more than one box scores 0; ``first`` scores the first box, ``best`` the best of them.

Coordinate frames (issue 3: Qwen2-VL and Qwen2.5-VL write boxes differently), option ``frame``
or the per-item column ``box_format``:
- ``qwen2_vl``: 0-1000 normalised;
- ``qwen2_5_vl``: absolute pixels of the processor-resized image, mapped back to the original
  with the processor's own resize rule (``gpg_vl.families``; column ``resized_size`` [W, H], or
  computed from ``image_size`` with the ``min_pixels``/``max_pixels`` options);
- ``pixels``: original-image pixels.
The ground truth is clipped to the image; the predicted box is scored as written, not clipped,
as Visual-RFT's and VLM-R1's IoU rewards do: clipping let a run-on number score as the image edge
(``[500,500,1000,1000500]`` earned IoU 1 for the bottom-right quadrant, and the demo's policy
learnt to append digits until its boxes never closed, docs/benchmarks.md). A box with x1 > x2 or
y1 > y2, or zero area, scores 0 (the lowest value of every reward) without an error -- VLM-R1's
IoU divided by zero on such boxes.

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


def box_giou(a, b) -> float:
    """Generalised IoU (Rezatofighi et al. 2019): IoU - (C - U) / C, in [-1, 1], where C is the
    area of the smallest box enclosing both and U the union. -1 when either box has no area.

    Visual-RFT's LISA reward is this plus 1 (``compute_giou`` in
    Liuziyu77/Visual-RFT src/virft/src/open_r1/grpo_lisa.py, also undyingjoker/GPG_OPENRS
    Visual-RFT/src/virft/src/open_r1/grpo_lisa.py), on boxes divided by 1000 and not clipped.
    """
    area_a, area_b = box_area(a), box_area(b)
    if area_a == 0.0 or area_b == 0.0:
        return -1.0
    inter = box_area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = area_a + area_b - inter
    enclosing = box_area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
    return inter / union - (enclosing - union) / enclosing


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
    "answer_source": ANSWER_SOURCES, "frame": BOX_FRAMES, "reward": ("iou", "threshold", "giou"),
    "boxes": ("single", "first", "best"), "min_pixels": _optional_pixels,
    "max_pixels": _optional_pixels,
    "threshold": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1,
})
def score_grounding_iou(completion: str, bbox, image_size, resized_size=None, box_format=None, *,
                        answer_source: str = "block", frame: str = "qwen2_vl", reward: str = "iou",
                        threshold: float = 0.5, boxes: str = "single", min_pixels: int | None = None,
                        max_pixels: int | None = None) -> float:
    """IoU of the predicted box with ``bbox`` (1/0 at ``threshold``, or GIoU + 1); module docstring."""
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
    if frame in families.RESIZED_FRAMES:
        resized = (_size(resized_size, "resized_size") if resized_size is not None else
                   families.resized_size((round(width), round(height)), min_pixels, max_pixels))
    else:
        resized = None
    candidates = [families.box_to_pixels(box, frame, (width, height), resized)  # as written: not clipped
                  for box in (predicted if boxes == "best" else predicted[:1])]
    if reward == "giou":
        # Visual-RFT also gives 2.0 for an answer string equal to the ground truth's; such an
        # answer holds the same box, which scores GIoU + 1 = 2.0 here as well.
        return 1.0 + max(box_giou(box, gold) for box in candidates)
    best = max(box_iou(box, gold) for box in candidates)
    if reward == "threshold":
        return 1.0 if best >= threshold else 0.0
    return best
