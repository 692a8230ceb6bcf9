"""``grounding_iou``: IoU across box frames, degenerate boxes score 0 (issue 3)."""
import pytest

from gpg_vl.families import FAMILIES, box_from_pixels, get_family, resized_size
from gpg_vl.verifiers import get_verifier
from gpg_vl.verifiers.grounding import box_iou, clip_box, score_grounding_iou


def block(text):
    return f"<think>...</think><answer>{text}</answer>"


@pytest.mark.parametrize("a, b, expected", [
    ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
    ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),
    ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
    ((0, 0, 10, 10), (0, 0, 5, 5), 25 / 100),
    ((10, 10, 0, 0), (0, 0, 10, 10), 0.0),   # reversed: 0, no error
    ((0, 0, 0, 10), (0, 0, 10, 10), 0.0),    # zero width: VLM-R1 divided by zero here
    ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),
])
def test_box_iou(a, b, expected):
    assert box_iou(a, b) == pytest.approx(expected)


def test_clip_box():
    assert clip_box((-5, -5, 120, 50), 100, 80) == (0, 0, 100, 50)


GOLD = [100, 50, 300, 250]
SIZE = [640, 480]


@pytest.mark.parametrize("text, expected", [
    ("[100, 50, 300, 250]", 1.0),
    ("[100.0, 50.0, 300.0, 250.0]", 1.0),
    ("(100,50),(300,250)", 1.0),
    ('{"bbox_2d": [100, 50, 300, 250], "label": "dog"}', 1.0),
    ("[200, 50, 400, 250]", 100 * 200 / (2 * 200 * 200 - 100 * 200)),
    ("[100, 50, 300, 250] [0, 0, 10, 10]", 0.0),     # boxes="single": two boxes earn nothing
    ("[300, 250, 100, 50]", 0.0),                    # x1 > x2 and y1 > y2
    ("[100, 50, 100, 250]", 0.0),                    # zero area
    ("[700, 500, 900, 900]", 0.0),                   # entirely outside the image
    ("[-100, -50, 300, 250]", 200 * 200 / (400 * 300)),  # scored as written, not clipped to the image
    ("[100, 50, 300, 250500]", 200 * 200 / (200 * 250450)),  # a run-on number is not the image edge
    ("no box", 0.0), ("[1, 2, 3]", 0.0),
])
def test_pixel_frame_table(text, expected):
    got = score_grounding_iou(block(text), GOLD, SIZE, frame="pixels")
    assert got == pytest.approx(expected)


def test_box_selection_options():
    text = block("[0, 0, 10, 10] [100, 50, 300, 250]")
    assert score_grounding_iou(text, GOLD, SIZE, frame="pixels", boxes="single") == 0.0
    assert score_grounding_iou(text, GOLD, SIZE, frame="pixels", boxes="first") == 0.0
    assert score_grounding_iou(text, GOLD, SIZE, frame="pixels", boxes="best") == 1.0


def test_threshold_reward():
    half = block("[200, 50, 400, 250]")  # IoU 1/3
    assert score_grounding_iou(half, GOLD, SIZE, frame="pixels", reward="threshold", threshold=0.3) == 1.0
    assert score_grounding_iou(half, GOLD, SIZE, frame="pixels", reward="threshold", threshold=0.5) == 0.0


def test_qwen2_vl_frame_is_0_to_1000():
    # 640x480 image: x * 1000/640, y * 1000/480
    assert score_grounding_iou(block("[156, 104, 469, 521]"), GOLD, SIZE, frame="qwen2_vl") > 0.99
    assert score_grounding_iou(block("[100, 50, 300, 250]"), GOLD, SIZE, frame="qwen2_vl") < 0.5


def test_qwen2_5_vl_frame_uses_processor_resize():
    # 1000x700 original -> processor-resized 1008x700 (multiples of 28): x scaled by 1.008.
    assert resized_size((1000, 700)) == (1008, 700)
    gold = [100, 100, 500, 600]
    text = block("[101, 100, 504, 600]")
    assert score_grounding_iou(text, gold, [1000, 700], frame="qwen2_5_vl") > 0.995
    # the same numbers in original pixels are slightly off, but not zero
    assert score_grounding_iou(text, gold, [1000, 700], frame="pixels") < 0.995
    # an explicit resized_size column wins over the computed one
    explicit = score_grounding_iou(block("[50, 50, 250, 300]"), gold, [1000, 700], [500, 350],
                                   frame="qwen2_5_vl")
    assert explicit == pytest.approx(1.0)


def test_box_format_column_overrides_frame():
    verifier = get_verifier("grounding_iou", frame="pixels")
    rewards = verifier(None, [block("[156, 104, 469, 521]")] * 2, bbox=[GOLD, GOLD],
                       image_size=[SIZE, SIZE], box_format=[None, "qwen2_vl"])
    assert rewards[0] < 0.5 and rewards[1] > 0.99


@pytest.mark.parametrize("frame", ["qwen2_vl", "qwen2_5_vl", "pixels"])
@pytest.mark.parametrize("image_size, gold", [
    ((640, 480), (100, 50, 300, 250)),
    ((1000, 700), (0, 0, 1000, 700)),
    ((3000, 2000), (1234, 567, 2890, 1999)),     # within the pixel limits: resized to 2996x1988
    ((12000, 9000), (5000, 4000, 5100, 4100)),   # shrunk by the processor's max_pixels
    ((30, 20), (3, 2, 25, 17)),                  # grown by min_pixels
])
def test_frames_round_trip(frame, image_size, gold):
    """A pixel box written in a frame and scored back gives IoU 1 within rounding."""
    resized = resized_size(image_size)
    in_frame = box_from_pixels(gold, frame, image_size, resized)
    exact = block("[{}, {}, {}, {}]".format(*in_frame))
    assert score_grounding_iou(exact, list(gold), list(image_size), frame=frame) == pytest.approx(1.0)
    # As a model writes it: integers. Each edge moves by <= half a frame unit, i.e. ex, ey pixels.
    rounded = block("[{}, {}, {}, {}]".format(*(round(v) for v in in_frame)))
    iou = score_grounding_iou(rounded, list(gold), list(image_size), frame=frame)
    units_per_pixel_x = (in_frame[2] - in_frame[0]) / (gold[2] - gold[0])
    units_per_pixel_y = (in_frame[3] - in_frame[1]) / (gold[3] - gold[1])
    ex, ey = 0.5 / units_per_pixel_x, 0.5 / units_per_pixel_y
    w, h = gold[2] - gold[0], gold[3] - gold[1]
    lower_bound = (w - 2 * ex) * (h - 2 * ey) / ((w + 2 * ex) * (h + 2 * ey))
    assert lower_bound - 1e-9 <= iou <= 1.0 + 1e-9


def test_missing_columns_and_bad_values_count_warnings():
    from gpg_vl.verifiers import reset_warning_counts, warning_counts
    reset_warning_counts()
    verifier = get_verifier("grounding_iou")
    rewards = verifier(None, [block("[1, 2, 3, 4]")] * 3, bbox=[None, GOLD, GOLD],
                       image_size=[SIZE, [0, 0], SIZE], box_format=[None, None, "normalized"])
    assert rewards == [0.0, 0.0, 0.0]
    assert warning_counts() == {"grounding_iou": 3}


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="frame"):
        get_verifier("grounding_iou", frame="normalized")
    with pytest.raises(ValueError, match="threshold"):
        get_verifier("grounding_iou", threshold=1.5)
    with pytest.raises(ValueError, match="iou_type"):
        get_verifier("grounding_iou", iou_type="giou")


# The pixel box [100, 50, 300, 250] of a 1000x500 image, as each family writes it: 0-1000 relative
# (Qwen2-VL; Qwen3-VL and Qwen3.5: QwenLM/Qwen3-VL README "relative position coordinates",
# evaluation/ODinW-13 divides by 1000), or pixels of the 1008x504 resized image (Qwen2.5-VL).
WRITTEN = {"qwen2_vl": "[100, 100, 300, 500]", "qwen3_vl": "[100, 100, 300, 500]",
           "qwen3_5": "[100, 100, 300, 500]", "qwen3_vl_moe": "[100, 100, 300, 500]",
           "qwen2_5_vl": "[100.8, 50.4, 302.4, 252]"}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_s_box_frame_round_trips(family):
    assert set(WRITTEN) == set(FAMILIES), "write down how a new family writes its boxes"
    verifier = get_verifier("grounding_iou", frame=get_family(family).box_frame)
    reward = verifier(None, [block(WRITTEN[family])], bbox=[[100, 50, 300, 250]], image_size=[[1000, 500]])
    assert reward[0] == pytest.approx(1.0, abs=1e-6)
    others = {w for f, w in WRITTEN.items() if w != WRITTEN[family]}
    for other in others:  # another frame's numbers are a different box
        assert verifier(None, [block(other)], bbox=[[100, 50, 300, 250]], image_size=[[1000, 500]])[0] < 0.7


def test_run_on_coordinate_does_not_score_as_the_image_edge():
    """The demo's reward hole: with the predicted box clipped to the image, appending digits to a
    coordinate on the edge ("1000" -> "1000500") kept IoU 1, and the policy learnt to loop."""
    quadrant = [56, 56, 112, 112]  # bottom-right quadrant of a 112 px image; 0-1000 frame below
    assert score_grounding_iou(block("[500,500,1000,1000]"), quadrant, [112, 112], frame="qwen2_vl") == 1.0
    run_on = score_grounding_iou(block("[500,500,1000,1000500]"), quadrant, [112, 112], frame="qwen2_vl")
    assert run_on == pytest.approx(500 / 1000000)  # the box as written is 2000 times taller
