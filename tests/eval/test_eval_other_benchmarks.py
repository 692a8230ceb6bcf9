"""CV-Bench, LISA grounding and fine-grained classification on hand-built records
(their records are not among the shared reference data); numbers worked out by hand."""
from __future__ import annotations

import json
import math

import pytest

from gpg_vl.eval.benchmarks import get_benchmark
from gpg_vl.eval.scoring import score_predictions
from gpg_vl.families import box_from_pixels, resized_size

CVBENCH = get_benchmark("CV-Bench")
LISA = get_benchmark("lisa")
CLS = get_benchmark("classification")


def cv_record(idx, source, task, answer="(B)"):
    return {"idx": idx, "source": source, "task": task, "type": "3D" if source == "Omni3D" else "2D",
            "question": "How many cups?", "choices": ["1", "2", "3", "4"], "answer": answer}


def test_cvbench_choice_extraction():
    record = cv_record(0, "COCO", "Count")
    responses = ["B", "(B)", "<answer>B</answer>", "The answer is (B).", "<answer>2</answer>",
                 "C", "<answer>(A)</answer>", "", "<answer>B. 3</answer>"]
    rows, _ = score_predictions(CVBENCH, [dict(record, response=r) for r in responses])
    assert [r["correct"] for r in rows] == [True] * 5 + [False] * 4
    assert rows[4]["prediction"] == "(B)" and rows[5]["prediction"] == "(C)"


def test_cvbench_official_overall_and_breakdowns():
    # ADE20K 1/2 right, COCO 2/2, Omni3D 1/4: official ((0.5 + 1) / 2 + 0.25) / 2 = 0.5,
    # while plain accuracy is 4/8.
    spec = [("ADE20K", "Count", "B"), ("ADE20K", "Relation", "A"), ("COCO", "Count", "B"),
            ("COCO", "Relation", "B"), ("Omni3D", "Depth", "B"), ("Omni3D", "Depth", "C"),
            ("Omni3D", "Distance", "C"), ("Omni3D", "Distance", "D")]
    preds = [dict(cv_record(i, s, t), response=f"<answer>{r}</answer>") for i, (s, t, r) in enumerate(spec)]
    rows, summary = score_predictions(CVBENCH, preds)
    assert summary["overall"] == 0.5 and summary["count"] == 8
    assert summary["metrics"] == {"accuracy_2d": 0.75, "accuracy_3d": 0.25, "official_overall": 0.5}
    assert summary["breakdowns"]["task"] == {
        "Count": {"count": 2, "correct": 2, "accuracy": 1.0},
        "Depth": {"count": 2, "correct": 1, "accuracy": 0.5},
        "Distance": {"count": 2, "correct": 0, "accuracy": 0.0},
        "Relation": {"count": 2, "correct": 1, "accuracy": 0.5}}
    assert {k: v["count"] for k, v in summary["breakdowns"]["source"].items()} == {
        "ADE20K": 2, "COCO": 2, "Omni3D": 4}
    assert [r["idx"] for r in rows] == list(range(8))


def lisa_record(**extra):
    return {"image_path": "img/1.jpg", "instruction": ["what holds the coffee?"],
            "boxes": [[100, 50, 300, 250]], "image_size": [1000, 500], **extra}


def test_lisa_iou_in_the_qwen2_vl_frame():
    # gt [100, 50, 300, 250] in a 1000x500 image; Qwen2-VL writes 0-1000 on both axes.
    responses = ["<answer>(100,100),(300,500)</answer>",  # exactly the gt box: IoU 1
                 "<answer>[200, 100, 400, 500]</answer>",  # [200, 50, 400, 250]: 20000/60000
                 "<think>no idea</think><answer>somewhere</answer>"]  # no box: IoU 0
    rows, summary = score_predictions(LISA, [dict(lisa_record(), response=r) for r in responses],
                                      box_frame="qwen2_vl")
    assert [r["iou"] for r in rows] == pytest.approx([1.0, 1 / 3, 0.0])
    assert [r["correct"] for r in rows] == [True, False, False]
    assert rows[2]["union"] == 40000.0  # a missing box still adds the gt area to the union
    assert summary["metrics"]["box_mean_iou"] == pytest.approx(4 / 9)
    assert summary["metrics"]["box_cumulative_iou"] == pytest.approx(60000 / 140000)
    assert summary["overall"] == pytest.approx(1 / 3)


def test_lisa_qwen2_5_vl_frame_uses_the_resized_image():
    max_pixels = 112 * 112
    size = resized_size((1000, 500), None, max_pixels)
    box = box_from_pixels([100, 50, 300, 250], "qwen2_5_vl", (1000, 500), size)
    response = f"<answer>[{', '.join(f'{v:.3f}' for v in box)}]</answer>"
    record = lisa_record(box_frame="qwen2_5_vl", max_pixels=max_pixels)  # as the runner records
    rows, _ = score_predictions(LISA, [dict(record, response=response)])
    assert rows[0]["iou"] == pytest.approx(1.0, abs=1e-3)
    rows, _ = score_predictions(LISA, [dict(record, response=response)], box_frame="qwen2_vl")
    assert rows[0]["iou"] < 0.5  # the same numbers read in the wrong frame


def test_lisa_missing_box_or_size_is_reported():
    preds = [dict(lisa_record(), response="(1,1),(2,2)"),
             {k: v for k, v in dict(lisa_record(), response="x").items() if k != "image_size"},
             {k: v for k, v in dict(lisa_record(), response="x").items() if k != "boxes"}]
    rows, summary = score_predictions(LISA, preds, box_frame="pixels")
    assert summary["missing_fields"]["count"] == 2
    assert [m["fields"] for m in summary["missing_fields"]["items"]] == [["image_size"], ["boxes"]]


def test_classification_exact_normalised_label_per_dataset(tmp_path):
    flowers = tmp_path / "ViRFT_CLS_flower_4_shot.jsonl"
    pets = tmp_path / "pets37_test.jsonl"
    flowers.write_text("\n".join(json.dumps({"image_path": f"f{i}.jpg", "problem": "Which flower?",
                                             "solution": f"<answer>{lab}</answer>"})
                                 for i, lab in enumerate(["pink primrose", "globe thistle"])))
    pets.write_text(json.dumps({"image_path": "p.jpg", "problem": "Which breed?",
                                "solution": "Golden_Retriever"}))
    records = CLS.load(f"{flowers},{pets}")
    assert [(r["dataset"], r["id"]) for r in records] == [
        ("flowers102", "flowers102/0"), ("flowers102", "flowers102/1"), ("pets37", "pets37/0")]
    assert records[2]["image_path"] == str(tmp_path / "p.jpg")  # resolved beside its own file
    responses = ["<answer>Pink Primrose</answer>", "<answer>thistle</answer>",
                 "<answer>golden retriever</answer>"]
    rows, summary = score_predictions(CLS, [dict(r, response=t) for r, t in zip(records, responses)])
    # "thistle" is a substring of the label: Visual-RFT credits it, an exact match does not
    assert [r["correct"] for r in rows] == [True, False, True]
    assert summary["breakdowns"]["dataset"] == {
        "flowers102": {"count": 2, "correct": 1, "accuracy": 0.5},
        "pets37": {"count": 1, "correct": 1, "accuracy": 1.0}}
    rows, _ = score_predictions(CLS, [dict(records[0], response="<answer></answer>")])
    assert not rows[0]["correct"]
    assert math.isclose(summary["overall"], 2 / 3)
