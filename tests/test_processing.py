"""Prompt batches: left padding, per-prompt image chunks, and group repetition that keeps every
row with its own image (tiling the flat ``pixel_values`` would not)."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from gpg_vl.errors import DataError
from gpg_vl.families import FAMILIES, get_family, smart_resize
from gpg_vl.models import load_processor
from gpg_vl.processing import (build_messages, encode_prompts, images_per_row, repeat_for_group,
                               select_rows)

PATCH_DIM = 3 * 2 * 14 * 14  # channels * temporal patch * patch * patch = 1176
# (width, height, colour) -> processor grid (t, h/14, w/14) at the tiny processor's limits
# (min 56*56 pixels: sides are already multiples of 28, so no resize).
IMAGES = [((56, 56), (230, 20, 20)), ((112, 84), (20, 20, 230)), ((56, 112), (20, 200, 20))]
GRIDS = [[1, 4, 4], [1, 6, 8], [1, 8, 4]]
PATCHES = [16, 48, 32]
IMAGE_TOKENS = [4, 12, 8]  # patches / merge_size**2


@pytest.fixture(scope="module")
def processor(tiny_dirs):
    return load_processor(str(tiny_dirs["qwen2_vl"]))


@pytest.fixture(scope="module")
def image_token(processor):
    return processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")


def sample(k: int, problem: str = "What colour is the shape?") -> dict:
    size, colour = IMAGES[k]
    return {"id": f"s{k}", "images": [Image.new("RGB", size, colour)], "problem": problem}


def text_sample(problem: str = "Say hello to everyone in the room, please.") -> dict:
    return {"id": "text", "images": [], "problem": problem}


@pytest.fixture(scope="module")
def batch(processor):
    # Different problem lengths too, so rows need different amounts of padding.
    return encode_prompts(processor, [sample(0, "Colour?"), sample(1), sample(2, "Which colour is this?")])


@pytest.fixture(scope="module")
def singles(processor):
    """Each image's own pixel_values, from encoding its prompt alone."""
    return [encode_prompts(processor, [sample(k)])["pixel_values"] for k in range(3)]


def row_chunks(batch: dict, image_token: int) -> list[torch.Tensor]:
    """Each row's pixel chunk, split by the grid and assigned by the row's placeholder count."""
    chunks = torch.split(batch["pixel_values"], batch["image_grid_thw"].prod(-1).tolist())
    owners = images_per_row(batch["input_ids"], batch["image_grid_thw"], image_token)
    return [torch.cat([chunks[k] for k in ks]) if ks else None for ks in owners]


def rows_see_own_images(batch: dict, prompt_of_row: list[int], singles, image_token: int) -> bool:
    """Whether row r's pixels equal (exactly) the pixels of prompt ``prompt_of_row[r]``'s image."""
    try:
        chunks = row_chunks(batch, image_token)
    except ValueError:
        return False
    return all(c is not None and c.shape == singles[p].shape and torch.equal(c, singles[p])
               for c, p in zip(chunks, prompt_of_row))


# --- encode_prompts ------------------------------------------------------------------------

def test_batch_shapes_with_images_of_different_sizes(batch, image_token):
    b, p = batch["input_ids"].shape
    assert b == 3
    for key in ("attention_mask", "mm_token_type_ids"):
        assert batch[key].shape == (3, p)
    assert batch["pixel_values"].shape == (sum(PATCHES), PATCH_DIM)
    assert batch["image_grid_thw"].tolist() == GRIDS
    assert (batch["input_ids"] == image_token).sum(1).tolist() == IMAGE_TOKENS


def test_each_image_chunk_is_that_image_alone(batch, singles, image_token):
    for k, single in enumerate(singles):
        assert single.shape == (PATCHES[k], PATCH_DIM)
    assert rows_see_own_images(batch, [0, 1, 2], singles, image_token)
    # The check can fail: distinct colours give distinct pixels.
    assert not torch.equal(singles[0], singles[2][:PATCHES[0]])


def test_left_padding(batch, processor):
    ids, mask = batch["input_ids"], batch["attention_mask"]
    lengths = mask.sum(1)
    assert len(set(lengths.tolist())) == 3, "the fixture's prompts should differ in length"
    assert lengths.max() == ids.shape[1]  # the longest row is unpadded
    for row, n in zip(range(3), lengths.tolist()):
        pad = ids.shape[1] - n
        assert mask[row].tolist() == [0] * pad + [1] * n
        assert (ids[row, :pad] == processor.tokenizer.pad_token_id).all()
    # Every row ends with the generation prompt, at the same (last) positions.
    tail = processor.tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    assert (ids[:, -len(tail):] == torch.tensor(tail)).all()


def test_mm_token_type_ids_mark_exactly_the_image_tokens(batch, image_token):
    assert batch["mm_token_type_ids"].dtype == torch.long
    assert torch.equal(batch["mm_token_type_ids"], (batch["input_ids"] == image_token).long())


def test_prompt_without_image_in_a_mixed_batch(processor, singles, image_token):
    mixed = encode_prompts(processor, [sample(1), text_sample(), sample(0)])
    assert mixed["image_grid_thw"].tolist() == [GRIDS[1], GRIDS[0]]
    assert (mixed["input_ids"] == image_token).sum(1).tolist() == [12, 0, 4]
    assert images_per_row(mixed["input_ids"], mixed["image_grid_thw"], image_token) == [[0], [], [1]]
    rep = repeat_for_group(mixed, 2, image_token)
    assert rep["pixel_values"].shape == (2 * (48 + 16), PATCH_DIM)
    assert rep["image_grid_thw"].tolist() == [GRIDS[1]] * 2 + [GRIDS[0]] * 2
    assert (rep["input_ids"] == image_token).sum(1).tolist() == [12, 12, 0, 0, 4, 4]
    chunks = row_chunks(rep, image_token)
    assert chunks[2] is None and chunks[3] is None
    assert all(torch.equal(chunks[r], singles[p]) for r, p in ((0, 1), (1, 1), (4, 0), (5, 0)))
    only_text = select_rows(mixed, [1, 1], image_token)
    assert "pixel_values" not in only_text and "image_grid_thw" not in only_text
    assert only_text["input_ids"].shape == (2, mixed["input_ids"].shape[1])


def test_batch_without_any_image(processor, image_token):
    plain = encode_prompts(processor, [text_sample(), text_sample("Hi")])
    assert "pixel_values" not in plain and "image_grid_thw" not in plain
    rep = repeat_for_group(plain, 3, image_token)
    assert torch.equal(rep["input_ids"], plain["input_ids"].repeat_interleave(3, dim=0))
    assert "pixel_values" not in rep


def test_pixel_limits_and_system_prompt(processor):
    big = {"id": "big", "images": [Image.new("RGB", (224, 224), (9, 9, 9))], "problem": "Q"}
    assert encode_prompts(processor, [big])["image_grid_thw"].tolist() == [[1, 16, 16]]
    capped = encode_prompts(processor, [big], min_pixels=112 * 112, max_pixels=112 * 112)
    assert capped["image_grid_thw"].tolist() == [[1, 8, 8]]
    text = processor.tokenizer.decode(encode_prompts(processor, [big], system_prompt="Be brief.")["input_ids"][0])
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<|vision_start|>")


def test_build_messages_fills_the_template_and_names_a_missing_field():
    msgs = build_messages({"id": "x", "problem": "2+2?", "task": "math"}, ["IMG"], "{problem} ({task})",
                          system_prompt="S", min_pixels=10, max_pixels=20)
    assert msgs == [{"role": "system", "content": "S"},
                    {"role": "user", "content": [{"type": "image", "image": "IMG", "min_pixels": 10, "max_pixels": 20},
                                                 {"type": "text", "text": "2+2? (math)"}]}]
    with pytest.raises(DataError, match="hint"):
        build_messages({"id": "x", "problem": "p"}, [], "{problem} {hint}")


# --- repeat_for_group / select_rows ----------------------------------------------------------

@pytest.mark.parametrize("group", [2, 3])
def test_repeat_for_group_keeps_each_row_with_its_own_image(batch, singles, image_token, group):
    rep = repeat_for_group(batch, group, image_token)
    order = [p for p in range(3) for _ in range(group)]  # [p0]*G + [p1]*G + [p2]*G
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        assert rep[key].shape == (3 * group, batch[key].shape[1])
        assert torch.equal(rep[key], batch[key][order])
    assert rep["image_grid_thw"].tolist() == [GRIDS[p] for p in order]
    assert rep["pixel_values"].shape == (group * sum(PATCHES), PATCH_DIM)
    assert rows_see_own_images(rep, order, singles, image_token)


def test_naive_tiling_would_pair_images_with_the_wrong_rows(batch, singles, image_token):
    """The check above catches the R1-V bug: tiling the flat tensor instead of repeating chunks."""
    group = 2
    rep = repeat_for_group(batch, group, image_token)
    order = [p for p in range(3) for _ in range(group)]
    tiled = {**rep, "pixel_values": batch["pixel_values"].repeat(group, 1),
             "image_grid_thw": batch["image_grid_thw"].repeat(group, 1)}
    assert tiled["pixel_values"].shape == rep["pixel_values"].shape  # same shape: only content is wrong
    assert not rows_see_own_images(tiled, order, singles, image_token)
    # Even with the grid repeated correctly, the tiled pixels are out of order.
    grid_ok = {**rep, "pixel_values": batch["pixel_values"].repeat(group, 1)}
    assert not rows_see_own_images(grid_ok, order, singles, image_token)


def test_select_rows_with_arbitrary_repeats(batch, singles, image_token):
    rows = [2, 0, 2, 1, 0]
    sub = select_rows(batch, rows, image_token)
    assert torch.equal(sub["input_ids"], batch["input_ids"][rows])
    assert torch.equal(sub["attention_mask"], batch["attention_mask"][rows])
    assert sub["image_grid_thw"].tolist() == [GRIDS[r] for r in rows]
    assert sub["pixel_values"].shape == (sum(PATCHES[r] for r in rows), PATCH_DIM)
    assert rows_see_own_images(sub, rows, singles, image_token)


def test_several_images_in_one_prompt_travel_together(processor, image_token):
    two = {"id": "two", "images": [Image.new("RGB", IMAGES[0][0], IMAGES[0][1]),
                                   Image.new("RGB", IMAGES[2][0], IMAGES[2][1])], "problem": "Compare."}
    b = encode_prompts(processor, [sample(1), two])
    assert images_per_row(b["input_ids"], b["image_grid_thw"], image_token) == [[0], [1, 2]]
    sub = select_rows(b, [1, 0, 1], image_token)
    assert sub["image_grid_thw"].tolist() == [GRIDS[0], GRIDS[2], GRIDS[1], GRIDS[0], GRIDS[2]]
    chunks = torch.split(b["pixel_values"], b["image_grid_thw"].prod(-1).tolist())
    expected = torch.cat([chunks[1], chunks[2], chunks[0], chunks[1], chunks[2]])
    assert torch.equal(sub["pixel_values"], expected)


def test_images_per_row_rejects_a_grid_that_does_not_match(batch, image_token):
    grid = batch["image_grid_thw"].clone()
    grid[1] = torch.tensor([1, 4, 4])  # 4 tokens where the row has 12 placeholders
    with pytest.raises(ValueError):
        images_per_row(batch["input_ids"], grid, image_token)
    with pytest.raises(ValueError, match="no placeholder"):
        images_per_row(batch["input_ids"][:2], batch["image_grid_thw"], image_token)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_images_are_resized_once_by_the_family_s_factor(tiny_dirs, family):
    """qwen_vl_utils resizes with the family's patch x merge (28 or 32), so the image processor
    keeps that size: the grid is the single resize of the original image. With 28 for a patch-16
    family a 500x300 image became 504x308, then 512x320 in the processor, not 512x288."""
    fam = get_family(family)
    processor = load_processor(str(tiny_dirs[family]))
    sample = {"id": "r", "images": [Image.new("RGB", (500, 300), (9, 9, 9))], "problem": "Q"}
    grid = encode_prompts(processor, [sample], max_pixels=600 * 600)["image_grid_thw"]  # [1, 3]
    h, w = smart_resize(300, 500, factor=fam.resize_factor, max_pixels=600 * 600)
    assert grid.tolist() == [[1, h // fam.patch_size, w // fam.patch_size]]
