"""``--protocol official`` for CV-Bench (GPG's scorer), LISA and classification (Visual-RFT's).

Records follow each release's schema; responses are written as the models write them (the LISA
one is the Visual-RFT demo's printed output, prompt echo included). Each verdict was worked out
by hand from the release's code and is checked twice: against the release's own code, copied
below unchanged apart from its I/O (``gpg_cvbench_verdict``, ``visual_rft_lisa_iou``,
``visual_rft_classification``), and as a literal expected value.
"""
from __future__ import annotations

import json
import random
import re

import pytest

from gpg_vl.eval.benchmarks import get_benchmark
from gpg_vl.eval.benchmarks.classification import first_tag_on_a_line
from gpg_vl.eval.official import first_answer_tag
from gpg_vl.eval.scoring import score_predictions, write_outputs

CVBENCH = get_benchmark("cvbench")
LISA = get_benchmark("lisa")
CLS = get_benchmark("classification")


# -- the releases' code, copied (AMAP-ML/GPG, Liuziyu77/Visual-RFT) -----------------------------
def gpg_cvbench_verdict(record: dict, model_resp_output: str) -> bool:
    """VisualThinker-R1-Zero/src/eval/evaluate_Qwen2_VL_CVBench.py, the scoring loop."""
    from math_verify import (ExprExtractionConfig, LatexExtractionConfig, StringExtractionConfig,
                             parse, verify)

    match = re.search(r"<answer>\s*(.*?)\s*</answer>", model_resp_output)
    model_answer = match.group(1) if match else None
    short_response = model_resp_output if not model_answer else model_answer
    ground_truth = record["answer"]
    example_answer = record["choices"]["ABCDEF".index(ground_truth[1])]
    parsed_response = parse(short_response, extraction_config=[
        LatexExtractionConfig(), ExprExtractionConfig(), StringExtractionConfig(strings=(
            "A", "B", "C", "D", "E", "F", 'a', 'b', 'c', 'd', 'e', 'f', '(a)', '(b)', '(c)', '(d)',
            '(e)', '(f)', '(A)', '(B)', '(C)', '(D)', '(E)', '(F)') + tuple(record['choices']))])
    parsed_answer = [example_answer.lower(), example_answer, ground_truth[1], ground_truth[1].lower(),
                     ground_truth.lower(), ground_truth]
    return bool(verify(target=parsed_response, gold=parsed_answer))


def visual_rft_lisa_iou(response: str, bbox: list, size: tuple) -> float:
    """lisa_evaluation/Qwen2_VL_lisa_infere.py, the try block of evaluate_model."""
    try:
        bbox = [bbox[0] / size[0], bbox[1] / size[1], bbox[2] / size[0], bbox[3] / size[1]]
        pattern = r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)"
        matches = re.findall(pattern, response)
        x1, y1, x2, y2 = map(int, matches[0])
        box_a = [int(x1) / 1000, int(y1) / 1000, int(x2) / 1000, int(y2) / 1000]
        x_a, y_a = max(box_a[0], bbox[0]), max(box_a[1], bbox[1])
        x_b, y_b = min(box_a[2], bbox[2]), min(box_a[3], bbox[3])
        inter = max(0, x_b - x_a) * max(0, y_b - y_a)
        area_a = (box_a[2] - box_a[0]) * (box_a[3] - box_a[1])
        area_b = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])
        return inter / float(area_a + area_b - inter + 1e-6)
    except Exception:  # noqa: BLE001 - the release appends 0 for any failure
        return 0


def visual_rft_classification(response: str, image_cate: str) -> bool:
    """classification/Qwen2_VL_classification_infere.py: right, or (error or "no") wrong."""
    try:
        answer_content = re.search(r"<answer>(.*?)</answer>", response).group(1)
        image_cate = image_cate.replace(' ', '').replace('_', '').lower()
        answer_content = answer_content.replace(' ', '').replace('_', '').lower()
        return image_cate in answer_content or answer_content in image_cate
    except Exception:  # noqa: BLE001
        return False


# -- the answer-tag searches equal the releases' regular expressions -------------------------------
def _random_texts(seed: int, n: int):
    rng = random.Random(seed)
    parts = ["<answer>", "</answer>", " ", "\n", "\t", "B", "left", "(A)", "<", ">", "answer", "\r"]
    for _ in range(n):
        yield "".join(rng.choice(parts) for _ in range(rng.randint(0, 14)))


def test_first_answer_tag_equals_gpgs_regex():
    pattern = re.compile(r"<answer>\s*(.*?)\s*</answer>")
    for text in _random_texts(0, 20_000):
        match = pattern.search(text)
        assert first_answer_tag(text) == (match.group(1) if match else None), repr(text)


def test_first_tag_on_a_line_equals_visual_rfts_regex():
    pattern = re.compile(r"<answer>(.*?)</answer>")
    for text in _random_texts(1, 20_000):
        match = pattern.search(text)
        assert first_tag_on_a_line(text) == (match.group(1) if match else None), repr(text)


# -- CV-Bench ------------------------------------------------------------------------------------
def cv(idx, task, source, question, choices, answer, response):
    prompt = question + " Select from the following choices.\n" + "\n".join(
        f"({chr(65 + i)}) {c}" for i, c in enumerate(choices))
    return {"idx": idx, "type": "3D" if source == "Omni3D" else "2D", "task": task, "source": source,
            "question": question, "choices": choices, "answer": answer, "prompt": prompt,
            "response": response}


COUNT = ("Count", "ADE20K", "How many cups are in the image?", ["3", "2", "1", "0"], "(B)")
RELATION = ("Relation", "COCO", "Considering the relative positions of the car (annotated by the red "
            "box) and the person (annotated by the blue box) in the image provided, where is the car "
            "located with respect to the person?", ["left", "right"], "(A)")
DEPTH = ("Depth", "Omni3D", "Which object is closer to the camera taking this photo, the lamp "
         "(highlighted by a red box) or the chair (highlighted by a blue box)?", ["lamp", "chair"], "(B)")
THINK = "<think>The image shows two white cups on the wooden table, side by side.</think>"
# (record spec, response, GPG's verdict, gpg-vl strict verdict, why)
CV_CASES = [
    (COUNT, THINK + " <answer>(B)</answer>", True, True, "the letter in parentheses"),
    (COUNT, THINK + "\n<answer>b</answer>", True, True, "lower case: 'b' is in the gold list"),
    (COUNT, THINK + " <answer>2</answer>", True, True, "the choice text '2' is a gold string"),
    (COUNT, THINK + " <answer>(C)</answer>", False, False, "another letter"),
    (COUNT, "There are 2 cups in the image.", True, True, "no tag: the whole response, '2' found"),
    (COUNT, "A cup stands beside another cup, so 2 cups.", False, False,
     "no tag: the article 'A' is read as the letter A (strict: no stated answer)"),
    (COUNT, THINK + "<answer></answer> The answer is (B).", True, True,
     "an empty tag: the whole response is read, '(B)' after it counts"),
    (COUNT, "<answer>(B)</answer><answer>(C)</answer>", True, False,
     "two tags: the first is read (strict calls two answers a hedge)"),
    (COUNT, "<answer>(C)</answer><answer>(B)</answer>", False, False, "two tags: the first is wrong"),
    (COUNT, "<answer>The count is\n2</answer>", True, True,
     "a tag across a line break does not match: the whole response, '2' found"),
    (RELATION, "<think>The car is parked on the left side, the person stands at the center.</think>"
               " <answer>left</answer>", True, True, "the choice text"),
    (RELATION, "<think>The car is on the left.</think> <answer>Left</answer>", False, True,
     "'Left' is not extracted: choice strings match as written"),
    (RELATION, "<answer>(A) left</answer>", True, True, "letter and text"),
    (DEPTH, "<think>The chair is in the foreground.</think>\n<answer>B</answer>", True, True, "letter"),
    (DEPTH, "<think>The chair is in the foreground.</think>\n<answer>The chair is closer.</answer>",
     True, True, "a sentence: math-verify finds the choice text 'chair' in it"),
    (DEPTH, "<think>The chair is in the foreground.</think>\n<answer>The chair is closer than the "
            "lamp.</answer>", False, False, "the rightmost choice text, 'lamp', is the one read"),
]


def test_cvbench_official_is_gpgs_verdict_on_hand_checked_rows():
    preds = [cv(i, *spec, response) for i, (spec, response, *_) in enumerate(CV_CASES)]
    rows, summary = score_predictions(CVBENCH, preds, "official")
    for pred, row, (_, _, official, strict, why) in zip(preds, rows, CV_CASES):
        assert gpg_cvbench_verdict(pred, pred["response"]) is official, why  # the hand verdict
        assert (row["correct_official"], row["correct_strict"]) == (official, strict), why
        assert row["correct"] == official
    assert summary["protocol"] == "official"
    assert summary["overall"] == sum(c[2] for c in CV_CASES) / len(CV_CASES)  # GPG's Total Accuracy
    assert summary["breakdowns"]["task"]["Relation"] == {"count": 3, "correct": 2, "accuracy": 2 / 3}
    assert rows[6]["official_extracted"] is None  # the empty tag: the whole response was read
    assert rows[7]["official_extracted"] == "(B)"


def test_cvbench_official_answer_outside_the_options_is_a_bad_record():
    rows, summary = score_predictions(CVBENCH, [cv(0, *COUNT[:4], "(G)", "<answer>G</answer>")],
                                      "official")
    assert not rows[0]["correct"] and summary["bad_records"]["count"] == 1
    assert "(G)" in rows[0]["status"]


def test_cvbench_official_is_bounded():
    record = cv(0, *COUNT, "")
    for response in ["<answer>" + " " * 200_000, "(" * 100_000 + "B", "9" * 100_000,
                     "<answer>" * 30_000 + "</answer>", "\\exp{\\exp{\\exp{99}}} <answer>B</answer>"]:
        assert CVBENCH.score_official(record, response).correct in (True, False)
    assert CVBENCH.score_official(record, "x" * 30_000 + "<answer>B</answer>").correct is False


# -- LISA ----------------------------------------------------------------------------------------
# The Visual-RFT demo (demo/lisa_demo.ipynb) prints the decoded sequence, prompt included; the
# image is 267 x 189. The ground-truth box here is hand-drawn around the answer's region.
DEMO_DECODED = ("system\nA conversation between User and Assistant. The user asks a question, and the "
        "Assistant solves it. The assistant first thinks about the reasoning process in the mind and "
        "then provides the user with the answer. The reasoning process and answer are enclosed within "
        "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process "
        "here </think><answer> answer here </answer>\nuser\nOutput the bounding box in the image "
        "corresponding to the instruction: the pokeymon that can perform Thunderbolt. Output thinking "
        "process as detail as possibile. Output the thinking process in <think> </think> and your "
        "grouding box. Following \"<think> thinking process </think>\n<answer>(x1,y1),(x2,y2)</answer>)"
        "\" format.\nassistant\n<think> The instruction is to find the bounding box of the Pokémon that "
        "can perform Thunderbolt. Thunderbolt is a move that is used by several Pokémon. In the image, "
        "there are several Pokémon, including Pikachu, which is known for using Thunderbolt. Pikachu "
        "is located in the bottom right corner of the image. </think>\n<answer>(696,300),(999,999)</answer>")
DEMO = DEMO_DECODED.split("\nassistant\n")[1]  # what gpg-vl records: the generated text
SIZE, GOLD = (267, 189), [186, 57, 267, 189]


def _iou_by_hand(pred, gold):
    inter = max(0, min(pred[2], gold[2]) - max(pred[0], gold[0])) * max(
        0, min(pred[3], gold[3]) - max(pred[1], gold[1]))
    return inter / ((pred[2] - pred[0]) * (pred[3] - pred[1]) + (gold[2] - gold[0]) * (gold[3] - gold[1])
                    - inter + 1e-6)


GOLD_N = [186 / 267, 57 / 189, 1.0, 1.0]
# (response, Visual-RFT's IoU worked out by hand, strict correct, why)
LISA_CASES = [
    (DEMO, _iou_by_hand([0.696, 0.3, 0.999, 0.999], GOLD_N), True, "the demo's box"),
    ("<answer>(69.6,30.0),(99.9,99.9)</answer>", 0.0, False, "decimals: no integer pair, IoU 0"),
    ("<answer>[696,300,999,999]</answer>", 0.0, True, "a list: not the release's pattern"),
    ("<think>At first I thought (0,0),(100,100).</think><answer>(696,300),(999,999)</answer>", 0.0, True,
     "the first pair anywhere: the one in the thinking"),
    ("<answer>(999,999),(696,300)</answer>", 0.0, False, "corners swapped: no intersection"),
    ("<answer>(0,0),(2000,2000)</answer>", _iou_by_hand([0, 0, 2, 2], GOLD_N), False,
     "no clipping: the box four times the image"),
    ("<answer>(" + "9" * 5000 + ",1),(2,3)</answer>", 0.0, False, "int() of 5000 digits raises: 0"),
]


def lisa_rows():
    return [{"image_path": f"test/{i}.jpg", "instruction": ["the pokeymon that can perform Thunderbolt"],
             "boxes": [GOLD], "image_size": list(SIZE), "box_frame": "qwen2_vl", "response": r}
            for i, (r, *_) in enumerate(LISA_CASES)]


def test_lisa_official_is_visual_rfts_iou_on_hand_checked_rows(tmp_path):
    preds = lisa_rows()
    rows, summary = score_predictions(LISA, preds, "official")
    iou_0 = rows[0]["official_iou"]
    for pred, row, (response, iou, strict, why) in zip(preds, rows, LISA_CASES):
        assert visual_rft_lisa_iou(response, GOLD, SIZE) == pytest.approx(iou, abs=1e-12), why
        assert row["official_iou"] == pytest.approx(iou, abs=1e-12), why
        assert row["correct_official"] is (iou >= 0.5) and row["correct_strict"] is strict, why
    assert LISA_CASES[0][1] == pytest.approx(0.991, abs=1e-3)
    # the release scores the decoded prompt too: its "(x1,y1),(x2,y2)" holds no digits
    assert LISA.score_official({**preds[0], "response": DEMO_DECODED}, DEMO_DECODED).extra["iou"] == iou_0

    assert summary["metrics"]["official_box_mean_iou"] == pytest.approx(
        sum(c[1] for c in LISA_CASES) / len(LISA_CASES))
    assert rows[0]["official_extracted"] == [696, 300, 999, 999]
    write_outputs(tmp_path, LISA, rows, summary)
    report = (tmp_path / "report.md").read_text()
    assert "box IoU, not the papers' mask gIoU/cIoU" in report  # the title names the metric
    assert "| official_box_mean_iou (%) |" in report and "gIoU |" not in report


def test_lisa_official_reads_the_0_1000_frame_whatever_the_family():
    """A Qwen2.5-VL model writes pixels of the resized image; the release (Qwen2-VL only)
    divides by 1000 regardless, so the official IoU is low where strict reads it right."""
    record = dict(lisa_rows()[0], box_frame="qwen2_5_vl", resized_size=list(SIZE),
                  response="<answer>(186,57),(267,189)</answer>")
    rows, _ = score_predictions(LISA, [record], "official")
    assert rows[0]["iou"] == pytest.approx(1.0)
    assert rows[0]["official_iou"] == pytest.approx(_iou_by_hand([0.186, 0.057, 0.267, 0.189], GOLD_N))
    assert rows[0]["official_iou"] < 0.1 and not rows[0]["correct"]


def test_lisa_official_counts_missing_rows_as_zero():
    rows, summary = score_predictions(LISA, [lisa_rows()[0], {**lisa_rows()[0], "boxes": None}], "official")
    assert rows[1]["status"] == "missing_fields"
    assert summary["metrics"]["official_box_mean_iou"] == pytest.approx(LISA_CASES[0][1] / 2)


# -- classification ------------------------------------------------------------------------------
# (label, response, Visual-RFT's verdict, strict verdict, why)
CLS_CASES = [
    ("pink primrose", "<think>The flower has five pale pink petals with notched tips and a yellow "
                      "centre.</think> <answer>Pink Primrose</answer>", True, True, "case and spaces"),
    ("globe thistle", "<think>A spherical blue flower head.</think> <answer>thistle</answer>", True, False,
     "the answer inside the label"),
    ("globe thistle", "<answer>globe thistle flower</answer>", True, False, "the label inside the answer"),
    ("globe thistle", "<think>Hard to tell.</think> <answer></answer>", True, False,
     "an empty answer is inside every label"),
    ("Golden_Retriever", "<answer>golden retriever</answer>", True, True, "'_' and spaces removed"),
    ("pink primrose", "The species is pink primrose.", False, False,
     "no tag: an error, not right (strict: 'pink primrose.' is not exactly the label)"),
    ("pink primrose", "<answer>pink\nprimrose</answer>", False, True,
     "a tag across lines: no match (strict reads it)"),
    ("pink primrose", "<answer>pink primrose</answer> <answer>rose</answer>", True, False,
     "two tags: the first (strict: a hedge)"),
    ("Boeing 737-800", "<answer>737-800</answer>", True, False, "a variant inside the model name"),
    ("Boeing 737-800", "<answer>Boeing 737-700</answer>", False, False, "another variant"),
]


def test_classification_official_is_visual_rfts_check_on_hand_checked_rows():
    preds = [{"id": i, "dataset": "flowers102", "problem": "Which flower?", "solution":
              f"<answer>{label}</answer>", "response": response}
             for i, (label, response, *_) in enumerate(CLS_CASES)]
    rows, summary = score_predictions(CLS, preds, "official")
    for row, (label, response, official, strict, why) in zip(rows, CLS_CASES):
        assert visual_rft_classification(response, label) is official, why
        assert (row["correct_official"], row["correct_strict"]) == (official, strict), why
    assert summary["accuracy_by_protocol"]["official"] == sum(c[2] for c in CLS_CASES) / len(CLS_CASES)
    assert json.dumps(rows)  # every row is JSON (written to scored.jsonl)
