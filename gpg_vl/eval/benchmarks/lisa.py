"""LISA reasoning grounding in box form, as Visual-RFT evaluates it.

Rows as Visual-RFT's ``lisa_test.json``: ``{image_path, instruction: [text, ...], boxes:
[[x1, y1, x2, y2], ...]}`` with the ground-truth box in original-image pixels, plus the image
size (``image_size: [W, H]``, or ``width``/``height``; ``gpg-vl eval`` records it).

The predicted box is the first box of the answer, written in the model family's frame
(``box_frame``: Qwen2-VL 0-1000, Qwen2.5-VL pixels of the resized image, see
``gpg_vl.families``); it is mapped back to original pixels before the IoU. Metrics: mean IoU
and cumulative IoU (total intersection / total union, LISA's cIoU); an item counts as correct
at IoU >= 0.5. A missing box scores IoU 0 and adds the ground-truth area to the union.
"""
from __future__ import annotations

from gpg_vl.eval.benchmarks.base import Benchmark, ItemScore, register
from gpg_vl.eval.responses import answer_span
from gpg_vl.families import BOX_FRAMES, box_to_pixels, resized_size
from gpg_vl.verifiers.parsing import parse_boxes

IOU_THRESHOLD = 0.5


def area(box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def intersection(a, b) -> float:
    return area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def image_size(record: dict) -> tuple[int, int] | None:
    if record.get("image_size"):
        w, h = record["image_size"]
        return int(w), int(h)
    if record.get("width") and record.get("height"):
        return int(record["width"]), int(record["height"])
    return None


class LisaGrounding(Benchmark):
    name = "lisa"
    id_field = "image_path"
    required_fields = ("boxes",)
    answer_field = "boxes"
    requires_box_frame = True
    default_template = (
        "Output the bounding box in the image corresponding to the instruction: {problem}. "
        "Output the thinking process in <think> </think> and your grouding box. Following "
        "\"<think> thinking process </think>\n<answer>(x1,y1),(x2,y2)</answer>)\" format.")
    description = "LISA reasoning grounding (box IoU; correct at IoU >= 0.5)"

    def problem(self, record: dict) -> str:
        instruction = record.get("instruction", record.get("question"))
        return str(instruction[0] if isinstance(instruction, list) else instruction)

    def missing_fields(self, record: dict) -> list[str]:
        missing = super().missing_fields(record)
        return missing + ([] if image_size(record) else ["image_size"])

    def gold(self, record: dict):
        boxes = record.get("boxes")
        return list(boxes[0]) if boxes else None

    def score(self, record: dict, response: str, *, box_frame: str | None = None,
              min_pixels: int | None = None, max_pixels: int | None = None, **_) -> ItemScore:
        frame = box_frame or record.get("box_frame")
        if frame not in BOX_FRAMES:
            raise ValueError(f"box frame {frame!r}; expected one of {BOX_FRAMES}")
        gold = [float(v) for v in record["boxes"][0]]
        span = answer_span(response)
        boxes = parse_boxes(span if span is not None else (response or ""))
        if not boxes:
            extra = {"iou": 0.0, "intersection": 0.0, "union": area(gold)}
            return ItemScore(None, None, False, extra)
        size = image_size(record)
        resized = None
        if frame == "qwen2_5_vl":
            resized = resized_size(size, record.get("min_pixels", min_pixels),
                                   record.get("max_pixels", max_pixels))
        pred = box_to_pixels(boxes[0], frame, size, resized)
        inter = intersection(pred, gold)
        union = area(pred) + area(gold) - inter
        iou = inter / union if union > 0 else 0.0
        extra = {"iou": iou, "intersection": inter, "union": union}
        return ItemScore(list(boxes[0]), [round(v, 2) for v in pred], iou >= IOU_THRESHOLD, extra)

    def metrics(self, records: list[dict], rows: list[dict]) -> dict:
        ious = [row.get("iou", 0.0) for row in rows]
        total_union = sum(row.get("union", 0.0) for row in rows)
        total_inter = sum(row.get("intersection", 0.0) for row in rows)
        return {"mean_iou": sum(ious) / len(ious) if ious else 0.0,
                "cumulative_iou": total_inter / total_union if total_union > 0 else 0.0}


register(LisaGrounding())
