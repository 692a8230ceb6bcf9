"""Synthetic demo tasks: deterministic files, schema rows, and answers that the pixels confirm.

Each answer is read back from the PNG by an independent rule (connected bright regions, the hue
of the shape, the blue square's extent), not by re-running the generator's code.
"""
from __future__ import annotations

import json
import random
import re
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpg_vl.data.synthetic import make_synthetic, random_answer, tokenizer_corpus

TASKS = ("classification", "counting", "grounding")


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def pixels(data_dir: Path, row: dict) -> np.ndarray:
    img = Image.open(data_dir / row["images"][0])
    assert img.mode == "RGB" and img.size == (112, 112)
    return np.asarray(img).astype(int)  # [H, W, 3]


def components(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """4-connected regions of True pixels."""
    seen = np.zeros_like(mask, dtype=bool)
    regions = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        queue, region = deque([start]), []
        while queue:
            y, x = queue.popleft()
            region.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        regions.append(region)
    return regions


def hue_name(rgb) -> str:
    """red / green / blue / yellow from the channel pattern of a saturated colour."""
    r, g, b = rgb
    if r > 150 and g > 150 and b < 100:
        return "yellow"
    if r > 150 and g < 100 and b < 100:
        return "red"
    if g > 150 and r < 100 and b < 110:
        return "green"
    if b > 150 and r < 100 and g < 120:
        return "blue"
    raise AssertionError(f"no colour name for {rgb}")


@pytest.fixture(scope="module")
def data(synthetic_data):
    return {"dir": synthetic_data["dir"], "train": rows_of(synthetic_data["train"]),
            "test": rows_of(synthetic_data["test"])}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, synthetic_data):
    a = make_synthetic(tmp_path / "a", seed=0, n_train=8, n_test=4)
    make_synthetic(tmp_path / "b", seed=0, n_train=8, n_test=4)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 1 + 2 + 3 * (8 + 4)  # README, 2 JSONL, PNGs
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
        # ...and so is the session fixture, made earlier in another folder.
        assert (synthetic_data["dir"] / rel).read_bytes() == (tmp_path / "a" / rel).read_bytes(), rel
    assert a == {"train": str(tmp_path / "a" / "train.jsonl"), "test": str(tmp_path / "a" / "test.jsonl")}
    make_synthetic(tmp_path / "c", seed=1, n_train=8, n_test=4)
    assert (tmp_path / "c" / "train.jsonl").read_text() != (tmp_path / "a" / "train.jsonl").read_text()


def test_rows_carry_the_schema_fields(data):
    for split, per_task in (("train", 8), ("test", 4)):
        rows = data[split]
        assert len(rows) == 3 * per_task
        assert [r["task"] for r in rows] == list(TASKS) * per_task  # interleaved
        assert len({r["id"] for r in rows}) == len(rows)
        for r in rows:
            assert {"id", "images", "problem", "answer", "task"} <= r.keys()
            assert isinstance(r["answer"], str) and r["problem"]
            assert len(r["images"]) == 1 and (data["dir"] / r["images"][0]).is_file()
            if r["task"] == "classification":
                assert r["labels"] == ["blue", "green", "red", "yellow"]
            if r["task"] == "grounding":
                assert r["image_size"] == [112, 112] and len(r["bbox"]) == 4
    assert not {r["id"] for r in data["train"]} & {r["id"] for r in data["test"]}


def test_the_loader_accepts_the_rows(synthetic_data):
    from gpg_vl.data.dataset import load_samples

    samples = load_samples(str(synthetic_data["train"]))
    assert len(samples) == 24
    assert {s["task"] for s in samples} == set(TASKS)


def test_counting_answer_is_the_number_of_bright_squares(data):
    counts = []
    for r in data["train"] + data["test"]:
        if r["task"] != "counting":
            continue
        px = pixels(data["dir"], r)
        bright = px.min(axis=-1) > 150  # grey-white squares on a dark background
        regions = components(bright)
        for region in regions:  # each region is a filled axis-aligned square
            ys, xs = zip(*region)
            h, w = max(ys) - min(ys) + 1, max(xs) - min(xs) + 1
            assert h == w and h * w == len(region)
        assert r["answer"] == str(len(regions))
        counts.append(len(regions))
    assert set(counts) - {1, 2, 3, 4} == set() and len(set(counts)) > 1


def test_classification_answer_is_the_shapes_colour(data):
    seen = set()
    for r in data["train"] + data["test"]:
        if r["task"] != "classification":
            continue
        px = pixels(data["dir"], r)
        background = px[0, 0]
        shape = px[(np.abs(px - background).sum(-1) > 60)]  # [n, 3]
        assert len(shape) > 56 * 56 / 3  # a large shape (a triangle is half its square)
        assert hue_name(np.median(shape, axis=0)) == r["answer"]
        seen.add(r["answer"])
    assert len(seen) > 1


def test_grounding_answer_is_the_blue_square_box_in_0_1000(data):
    for r in data["train"] + data["test"]:
        if r["task"] != "grounding":
            continue
        px = pixels(data["dir"], r)
        ys, xs = np.nonzero(px[..., 2] > 200)  # the square is pure blue; the ramp keeps blue at 30
        box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]  # exclusive ends
        assert box == r["bbox"]
        assert box[2] - box[0] == box[3] - box[1] == 56 and box[0] % 56 == 0 and box[1] % 56 == 0
        answer = [int(v) for v in re.fullmatch(r"\[(\d+),(\d+),(\d+),(\d+)\]", r["answer"]).groups()]
        assert answer == [round(v * 1000 / 112) for v in box]
        # The square fills one quadrant: its corners are multiples of 500 in the 0-1000 frame.
        assert all(v in (0, 500, 1000) for v in answer)


def test_random_answers_are_well_formed_per_task():
    rng = random.Random(0)
    colours = {random_answer({"task": "classification"}, rng) for _ in range(200)}
    assert colours == {"red", "green", "blue", "yellow"}
    assert {random_answer({"task": "counting"}, rng) for _ in range(200)} == {"1", "2", "3", "4"}
    boxes = {random_answer({"task": "grounding", "image_size": [112, 112]}, rng) for _ in range(400)}
    assert boxes == {"[0,0,500,500]", "[500,0,1000,500]", "[0,500,500,1000]", "[500,500,1000,1000]"}
    pixel_box = random_answer({"task": "grounding", "image_size": [112, 112]}, random.Random(1), frame="pixels")
    assert all(int(v) % 56 == 0 for v in pixel_box.strip("[]").split(","))
    with pytest.raises(ValueError, match="math"):
        random_answer({"task": "math", "id": "m1"}, rng)


def test_tokenizer_corpus_holds_the_answers():
    corpus = tokenizer_corpus()
    for text in ("<answer>red</answer>", "<answer>4</answer>"):
        assert text in corpus
    assert any(line.startswith("<answer>[0,") for line in corpus)
