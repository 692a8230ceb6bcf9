"""``grounding_iou`` with ``reward="giou"``: Visual-RFT's LISA reward, GIoU + 1 in [0, 2] (issue 5).

Expected values are worked out by hand: GIoU = I/U - (C - U)/C with I the intersection, U the
union and C the area of the smallest box enclosing both (Rezatofighi et al. 2019).
"""
import random

import pytest

from gpg_vl.verifiers import get_verifier
from gpg_vl.verifiers.grounding import box_giou, score_grounding_iou

GOLD = [100, 50, 300, 250]  # 200 x 200 = 40,000 px
SIZE = [640, 480]


def block(text):
    return f"<think>...</think><answer>{text}</answer>"


@pytest.mark.parametrize("a, b, expected", [
    ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),                    # identical
    ((0, 0, 10, 10), (20, 0, 30, 10), 0 - (300 - 200) / 300),  # disjoint side by side: -1/3
    ((0, 0, 100, 100), (25, 25, 75, 75), 0.25),               # nested: C = the outer box, GIoU = IoU
    ((0, 0, 20, 20), (10, 10, 30, 30), 100 / 700 - 200 / 900),  # partial overlap: -5/63
    ((10, 10, 0, 0), (0, 0, 10, 10), -1.0),                   # reversed: no area, the minimum
    ((0, 0, 0, 10), (0, 0, 10, 10), -1.0),                    # zero width
])
def test_box_giou(a, b, expected):
    assert box_giou(a, b) == pytest.approx(expected)
    assert box_giou(b, a) == pytest.approx(expected)  # symmetric


@pytest.mark.parametrize("text, expected", [
    ("[100, 50, 300, 250]", 2.0),                        # identical: GIoU 1
    ("(100,50),(300,250)", 2.0),                         # Visual-RFT's answer form
    ("[150, 100, 250, 200]", 1.25),                      # nested 100 x 100: I/U = 1/4, C = U
    ("[200, 150, 400, 350]", 1 + 10_000 / 70_000 - 20_000 / 90_000),  # partial: 58/63
    ("[400, 50, 600, 250]", 1 + 0 - 20_000 / 100_000),   # disjoint, touching rows: 0.8
    ("[500, 350, 600, 450]", 1 + 0 - 150_000 / 200_000),  # disjoint, diagonal: 0.25
    ("[300, 250, 100, 50]", 0.0),                        # reversed box: the minimum
    ("[100, 50, 300, 250] [0, 0, 10, 10]", 0.0),         # two boxes (boxes="single")
    ("no box", 0.0),
])
def test_giou_reward_table(text, expected):
    got = score_grounding_iou(block(text), GOLD, SIZE, frame="pixels", reward="giou")
    assert got == pytest.approx(expected)


def test_giou_ranks_misses_that_iou_cannot():
    """Both misses have IoU 0; GIoU still prefers the nearer one (why Visual-RFT uses it)."""
    near, far = block("[310, 50, 360, 250]"), block("[580, 400, 630, 470]")
    assert score_grounding_iou(near, GOLD, SIZE, frame="pixels") == 0.0
    assert score_grounding_iou(far, GOLD, SIZE, frame="pixels") == 0.0
    near_g = score_grounding_iou(near, GOLD, SIZE, frame="pixels", reward="giou")
    far_g = score_grounding_iou(far, GOLD, SIZE, frame="pixels", reward="giou")
    assert 0.0 < far_g < near_g < 1.0


def anchor_compute_giou(gt, st):
    """Visual-RFT's ``compute_giou`` (grpo_lisa.py), restated: points ((x1, y1), (x2, y2)) /1000."""
    (x1g, y1g), (x2g, y2g) = gt
    (x1s, y1s), (x2s, y2s) = st
    inter = max(0, min(x2g, x2s) - max(x1g, x1s)) * max(0, min(y2g, y2s) - max(y1g, y1s))
    union = (x2g - x1g) * (y2g - y1g) + (x2s - x1s) * (y2s - y1s) - inter
    iou = inter / union if union > 0 else 0
    c = (max(x2g, x2s) - min(x1g, x1s)) * (max(y2g, y2s) - min(y1g, y1s))
    return (iou - (c - union) / c if c > 0 else iou) + 1


def test_matches_the_anchor_formula_on_0_to_1000_boxes():
    """Qwen2-VL's 0-1000 frame, well-formed boxes inside the image: the anchor's value exactly.

    A 1000 x 500 image: the frame's x is pixels, its y is half-pixels, and GIoU is unchanged by
    scaling an axis (every area scales by the same factor), so the anchor's /1000 is no change.
    """
    rng = random.Random(0)
    verifier = get_verifier("grounding_iou", frame="qwen2_vl", reward="giou")
    for _ in range(200):
        gold = sorted(rng.sample(range(1001), 2)), sorted(rng.sample(range(1001), 2))
        pred = sorted(rng.sample(range(1001), 2)), sorted(rng.sample(range(1001), 2))
        answer = f"({pred[0][0]},{pred[1][0]}),({pred[0][1]},{pred[1][1]})"
        gold_pixels = [gold[0][0], gold[1][0] / 2, gold[0][1], gold[1][1] / 2]
        (got,) = verifier(None, [block(answer)], bbox=[gold_pixels], image_size=[[1000, 500]])
        expected = anchor_compute_giou(((gold[0][0] / 1000, gold[1][0] / 1000), (gold[0][1] / 1000, gold[1][1] / 1000)),
                                       ((pred[0][0] / 1000, pred[1][0] / 1000), (pred[0][1] / 1000, pred[1][1] / 1000)))
        assert got == pytest.approx(expected, abs=1e-9), (gold, pred)


def test_giou_is_an_option_value_and_iou_stays_the_default():
    assert get_verifier("grounding_iou").options["reward"] == "iou"
    with pytest.raises(ValueError, match="reward"):
        get_verifier("grounding_iou", reward="diou")
