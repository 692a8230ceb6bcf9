"""LISA reasoning grounding in box form, as Visual-RFT evaluates it.

Rows as Visual-RFT's ``lisa_test.json``: ``{image_path, instruction: [text, ...], boxes:
[[x1, y1, x2, y2], ...]}`` (or a ``bbox`` column) with the ground-truth box in original-image
pixels, plus the image size (``image_size: [W, H]``, or ``width``/``height``). ``gpg-vl eval``
records ``image_size``, the ``box_frame`` of the model family and the ``resized_size`` the
processor gave the image, so ``gpg-vl eval score`` maps boxes back exactly.

The predicted box is the first box of the answer, written in the model family's frame
(``box_frame``: Qwen2-VL 0-1000, Qwen2.5-VL pixels of the resized image, see
``gpg_vl.families``); it is mapped back to original pixels before the IoU. Metrics: mean IoU
and cumulative IoU (total intersection / total union, LISA's cIoU); an item counts as correct
at IoU >= 0.5. A missing box scores IoU 0 and adds the ground-truth area to the union.

``--protocol official``: Visual-RFT's scorer (``gpg_vl.eval.official.lisa_official``: the
first integer ``(x1,y1),(x2,y2)`` anywhere, read in the 0-1000 frame whatever the family, no
clipping) and its figure, the mean box IoU (``official_box_mean_iou``, its "mIoU"); the
release reports no per-item verdict, so an item counts as correct at the same IoU >= 0.5. None
of these is the papers' gIoU/cIoU, which are mask IoUs of SAM masks prompted by the box.
"""
from __future__ import annotations

import math

from gpg_vl.errors import BadRecord
from gpg_vl.eval.benchmarks.base import Benchmark, ItemScore, register
from gpg_vl.eval.extract import find_answer
from gpg_vl.eval.official import lisa_official
from gpg_vl.families import BOX_FRAMES, RESIZED_FRAMES, box_to_pixels, resized_size
from gpg_vl.verifiers.grounding import box_area, box_iou, clip_box
from gpg_vl.verifiers.parsing import parse_boxes

IOU_THRESHOLD = 0.5
MAX_BOX_TEXT = 2000


def _numbers(value, n: int, what: str) -> list[float]:
    """``n`` finite numbers from a list field, else BadRecord naming the field and value."""
    if not isinstance(value, (list, tuple)) or len(value) != n or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value):
        raise BadRecord(f"{what} must be {n} finite numbers, got {str(value)[:80]!r}")
    return [float(v) for v in value]


def image_size(record: dict) -> tuple[int, int] | None:
    """(W, H) from ``image_size`` or ``width``/``height``; None when absent, BadRecord when
    malformed (not two positive numbers)."""
    if record.get("image_size") is not None:
        w, h = _numbers(record["image_size"], 2, "image_size")
    elif record.get("width") is not None and record.get("height") is not None:
        w, h = _numbers([record["width"], record["height"]], 2, "width/height")
    else:
        return None
    if w < 1 or h < 1:
        raise BadRecord(f"image_size must be positive, got {[w, h]}")
    return int(w), int(h)


def gold_box(record: dict) -> list[float] | None:
    """The ground-truth box: the first of Visual-RFT's ``boxes``, or a ``bbox`` column; None
    when absent, BadRecord when malformed."""
    boxes = record.get("boxes")
    if boxes is not None and not isinstance(boxes, (list, tuple)):
        raise BadRecord(f"boxes must be a list of boxes, got {str(boxes)[:80]!r}")
    box = boxes[0] if boxes else record.get("bbox")
    if box is None and isinstance(record.get("solution"), (list, tuple)):
        box = record["solution"]  # VLM-R1's REC rows: {image, problem, solution: [x1, y1, x2, y2]}
    return _numbers(box, 4, "box") if box is not None else None


def _present(record: dict, read) -> bool:
    """Whether a field is there (a malformed one is: scoring then names the problem)."""
    try:
        return read(record) is not None
    except BadRecord:
        return True


def _resized(record: dict, size, min_pixels: int | None, max_pixels: int | None):
    """The processor-resized (W, H): from pixel limits given now, else the size recorded at
    generation (``resized_size``), else the limits recorded then (or the family defaults)."""
    if min_pixels is None and max_pixels is None and record.get("resized_size") is not None:
        w, h = _numbers(record["resized_size"], 2, "resized_size")
        return int(w), int(h)
    lo = min_pixels if min_pixels is not None else record.get("min_pixels")
    hi = max_pixels if max_pixels is not None else record.get("max_pixels")
    return resized_size(size, lo, hi)


class LisaGrounding(Benchmark):
    name = "lisa"
    id_field = "image_path"
    required_fields = ()
    requires_box_frame = True
    default_template = (
        "Output the bounding box in the image corresponding to the instruction: {problem}. "
        "Output the thinking process in <think> </think> and your grouding box. Following "
        "\"<think> thinking process </think>\n<answer>(x1,y1),(x2,y2)</answer>)\" format.")
    description = ("LISA reasoning grounding (box IoU, not the papers' mask gIoU/cIoU; "
                   "correct at IoU >= 0.5)")

    def problem(self, record: dict) -> str:
        instruction = record.get("instruction", record.get("question", record.get("problem")))
        if instruction is None:
            raise KeyError("instruction")
        return str(instruction[0] if isinstance(instruction, list) else instruction)

    def image_refs(self, record: dict, root):
        if record.get(self.image_field) is None and record.get("image") is not None:
            return super().image_refs({self.image_field: record["image"]}, root)
        return super().image_refs(record, root)

    def complete(self, record: dict, root) -> dict:
        """``eval score`` on release rows without ``image_size`` (Visual-RFT's lisa_test.json,
        VLM-R1's REC rows): the size is read from the image header under ``root``."""
        if _present(record, image_size):
            return record
        from gpg_vl.data.images import ImageLoadError, probe_image

        refs = self.image_refs(record, root)
        try:
            size = probe_image(refs[0]) if refs else None
        except ImageLoadError:
            return record
        return {**record, "image_size": list(size)} if size else record

    def missing_fields(self, record: dict) -> list[str]:
        missing = [] if _present(record, gold_box) else ["boxes"]
        return missing + ([] if _present(record, image_size) else ["image_size"])

    def gold(self, record: dict):
        try:
            return gold_box(record)
        except BadRecord:
            return record.get("boxes", record.get("bbox"))

    def score(self, record: dict, response: str, *, box_frame: str | None = None,
              min_pixels: int | None = None, max_pixels: int | None = None, **_) -> ItemScore:
        frame = box_frame or record.get("box_frame")
        if frame not in BOX_FRAMES:
            raise BadRecord(f"box frame {frame!r}; expected one of {BOX_FRAMES}")
        size = image_size(record)
        gold = clip_box(gold_box(record), *size)
        answer = find_answer(response)
        if answer.hedge:
            return ItemScore(None, None, False, {"iou": 0.0, "intersection": 0.0,
                                                 "union": box_area(gold), "hedge": True})
        # parse_boxes reads at most MAX_BOX_TEXT characters: its patterns are not linear
        text = answer.text if answer.text is not None else (response or "")[-MAX_BOX_TEXT:]
        boxes = parse_boxes(text[:MAX_BOX_TEXT])
        if not boxes:
            return ItemScore(None, None, False, {"iou": 0.0, "intersection": 0.0,
                                                 "union": box_area(gold)})
        resized = None
        if frame in RESIZED_FRAMES:
            resized = _resized(record, size, min_pixels, max_pixels)
        pred = clip_box(box_to_pixels(boxes[0], frame, size, resized), *size)
        iou = box_iou(pred, gold)
        inter = box_area((max(pred[0], gold[0]), max(pred[1], gold[1]),
                          min(pred[2], gold[2]), min(pred[3], gold[3])))
        union = box_area(pred) + box_area(gold) - inter
        extra = {"iou": iou, "intersection": inter, "union": union}
        return ItemScore(list(boxes[0]), [round(v, 2) for v in pred], iou >= IOU_THRESHOLD, extra)

    def score_official(self, record: dict, response: str, **options) -> ItemScore:
        box, pred, iou = lisa_official(gold_box(record), image_size(record), response)
        return ItemScore(box, pred, iou >= IOU_THRESHOLD, {"iou": iou})

    def metrics(self, records: list[dict], rows: list[dict]) -> dict:
        ious = [row.get("iou", 0.0) for row in rows]
        total_union = sum(row.get("union", 0.0) for row in rows)
        total_inter = sum(row.get("intersection", 0.0) for row in rows)
        # Box IoU: the papers' gIoU / cIoU are mask metrics (SAM masks from the boxes). A row
        # the release could not score (no box, a missing field) counts 0 there too.
        official = [row.get("official_iou", 0.0) for row in rows]
        return {"box_mean_iou": sum(ious) / len(ious) if ious else 0.0,
                "box_cumulative_iou": total_inter / total_union if total_union > 0 else 0.0,
                "official_box_mean_iou": sum(official) / len(official) if official else 0.0}


register(LisaGrounding())
