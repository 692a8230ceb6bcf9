"""Data that passes loading trains: malformed lines, mistyped fields, vision tokens, reserved
columns, FIFOs and extreme aspect ratios are caught up front, named by file, row and field."""
from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image

from gpg_vl.data import ImageLoadError, SchemaError, load_samples
from gpg_vl.data.validate import BadRowError, default_prompt_limit

IMAGE = Path(__file__).resolve().parents[2] / "data" / "samples" / "images" / "count_2.png"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("hf_cache"))


@pytest.fixture
def folder(tmp_path):
    shutil.copy(IMAGE, tmp_path / "img.png")
    return tmp_path


def row(i, **over):
    out = {"id": f"r{i}", "images": ["img.png"], "problem": "How many squares?", "answer": "2", "task": "counting"}
    out.update(over)
    return out


def write(path: Path, lines) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


@pytest.mark.parametrize("bad, message", [
    ('{"id": "r1", "problem": ', r"rows.jsonl, line 2: not valid JSON"),
    ("[1, 2, 3]", r"rows.jsonl, line 2: a row must be a JSON object, got list"),
    ('"just text"', r"rows.jsonl, line 2: a row must be a JSON object, got str"),
])
def test_a_malformed_line_is_named_and_skipped_or_refused(folder, cache, bad, message):
    data = write(folder / "rows.jsonl", [row(0), bad, row(2)])
    with pytest.raises(BadRowError, match=message):
        load_samples(data, cache_dir=cache)  # the library default is on_bad_row="error"
    samples = load_samples(data, cache_dir=cache, on_bad_row="skip")
    assert [s["id"] for s in samples] == ["r0", "r2"] and samples.bad_rows.skipped == 1


def test_one_mistyped_row_is_blamed_not_the_valid_ones(folder, cache):
    # Row 0 is the odd one: its answer is a list where every other row has a string.
    data = write(folder / "rows.jsonl", [row(0, answer=[2]), *[row(i) for i in range(1, 6)]])
    with pytest.raises(BadRowError, match=r"line 1: field 'answer' is a list of number here, but a string "
                                          r"in most rows \(first in line 2\)"):
        load_samples(data, cache_dir=cache)
    samples = load_samples(data, cache_dir=cache, on_bad_row="skip")
    assert [s["id"] for s in samples] == ["r1", "r2", "r3", "r4", "r5"]  # not every row skipped


def test_an_empty_file_is_one_line(folder, cache):
    (folder / "rows.jsonl").write_text("\n\n")
    with pytest.raises(SchemaError, match=r"rows.jsonl: the file is empty"):
        load_samples(folder / "rows.jsonl", cache_dir=cache)


@pytest.mark.parametrize("field, value", [
    ("problem", "What is <|image_pad|> here?"), ("answer", "<|vision_start|>"),
    ("choices", ["a", "b <|video_pad|>"]),
])
def test_a_vision_token_in_any_text_field_is_named(folder, cache, field, value):
    data = write(folder / "rows.jsonl", [row(0), row(1, **{field: value})])
    with pytest.raises(BadRowError, match=rf"row 1 \(id 'r1'\): field '{field}.*vision special token"):
        load_samples(data, cache_dir=cache)
    assert [s["id"] for s in load_samples(data, cache_dir=cache, on_bad_row="skip")] == ["r0"]


@pytest.mark.parametrize("column", ["completions", "prompts", "completion_ids", "trainer_state"])
def test_a_reserved_column_is_refused_naming_it(folder, cache, column):
    data = write(folder / "rows.jsonl", [row(0, **{column: "x"}), row(1, **{column: "y"})])
    with pytest.raises(SchemaError, match=rf"column '{column}' is reserved"):
        load_samples(data, cache_dir=cache, on_bad_row="skip")


def test_an_extreme_aspect_ratio_is_a_bad_image(folder, cache):
    Image.new("RGB", (402, 2)).save(folder / "thin.png")
    data = write(folder / "rows.jsonl", [row(0), row(1, images=["thin.png"])])
    with pytest.raises(ImageLoadError, match=r"thin.png.*aspect ratio 201 exceeds 200"):
        load_samples(data, cache_dir=cache)
    samples = load_samples(data, cache_dir=cache, on_bad_image="skip")
    assert [s["id"] for s in samples] == ["r0"] and samples.skipped == 1


def test_a_fifo_as_an_image_path_does_not_hang(folder, cache):
    os.mkfifo(folder / "pipe.png")
    data = write(folder / "rows.jsonl", [row(0), row(1, images=["pipe.png"])])
    result = {}

    def load():
        try:
            load_samples(data, cache_dir=cache)
        except ImageLoadError as exc:
            result["error"] = str(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=60)
    if thread.is_alive():  # unblock the reader before failing
        with open(folder / "pipe.png", "wb"):
            pass
        pytest.fail("loading hung on a FIFO")
    assert "pipe.png" in result["error"] and "not a regular file" in result["error"]


def test_the_default_prompt_limit_is_the_tokenizers_context():
    class Tok:
        model_max_length = 32768

    class Unknown:
        model_max_length = int(1e30)  # transformers' "not set" sentinel

    assert default_prompt_limit(type("P", (), {"tokenizer": Tok()})()) == 32768
    assert default_prompt_limit(type("P", (), {"tokenizer": Unknown()})()) == 16384


def test_a_huge_problem_is_skipped_by_default_before_training(tiny_dirs, synthetic_data, tmp_path):
    """data.max_prompt_length: null no longer means unbounded: the row is skipped and counted."""
    from gpg_vl.config import Config, load_config
    from gpg_vl.models import load_processor
    from gpg_vl.trainer.setup import load_data

    rows = [json.loads(x) for x in synthetic_data["train"].read_text().splitlines()][:3]
    for r in rows:
        r["images"] = [str(synthetic_data["dir"] / p) for p in r["images"]]
    rows[1]["problem"] = "x" * 40_000  # 40,000 tokens, over the tiny tokenizer's 32,768
    data = write(tmp_path / "train.jsonl", rows)
    cfg = load_config(Config, None, [f"model.path={tiny_dirs['qwen2_vl']}", f"data.train={data}",
                                     "model.min_pixels=12544", "model.max_pixels=12544"])
    assert cfg.data.max_prompt_length is None
    processor = load_processor(str(tiny_dirs["qwen2_vl"]), 12544, 12544)
    train, _ = load_data(cfg, processor)
    assert [s["id"] for s in train] == [rows[0]["id"], rows[2]["id"]] and train.long_prompts.skipped == 1


@pytest.mark.parametrize("size, pixels", [((500, 3), 12544), ((5000, 26), 12544)])
def test_an_image_the_encoder_cannot_resize_is_a_bad_image_before_training(
        tiny_dirs, synthetic_data, tmp_path, size, pixels):
    """Under a small max_pixels, an elongated image (ratio < 200) resizes to 0 px in the encoder."""
    from gpg_vl.config import Config, load_config
    from gpg_vl.models import load_processor
    from gpg_vl.processing import encode_prompts
    from gpg_vl.trainer.setup import load_data

    rows = [json.loads(x) for x in synthetic_data["train"].read_text().splitlines()][:2]
    rows[0]["images"] = [str(synthetic_data["dir"] / rows[0]["images"][0])]
    Image.new("RGB", size).save(tmp_path / "long.png")
    rows[1]["images"] = [str(tmp_path / "long.png")]
    rows[1].pop("image_size", None)
    rows[1].pop("bbox", None)
    data = write(tmp_path / "train.jsonl", rows)
    processor = load_processor(str(tiny_dirs["qwen2_vl"]), pixels, pixels)
    with pytest.raises(ValueError):  # what happened mid-run before: the encoder fails on the row
        encode_prompts(processor, [{**rows[1], "task": "counting"}], min_pixels=pixels, max_pixels=pixels)
    cfg = load_config(Config, None, [f"model.path={tiny_dirs['qwen2_vl']}", f"data.train={data}",
                                     f"model.min_pixels={pixels}", f"model.max_pixels={pixels}"])
    train, _ = load_data(cfg, processor)
    assert [s["id"] for s in train] == [rows[0]["id"]] and train.skipped == 1
    assert "long.png" in train.bad_images.messages[0] and "resizes to" in train.bad_images.messages[0]


def test_a_json_array_file_is_checked_item_by_item(folder, cache):
    path = folder / "rows.json"
    path.write_text(json.dumps([row(0), [1, 2], row(2)]))
    with pytest.raises(BadRowError, match=r"rows.json, item 2: a row must be a JSON object, got list"):
        load_samples(path, cache_dir=cache)
    assert [s["id"] for s in load_samples(path, cache_dir=cache, on_bad_row="skip")] == ["r0", "r2"]
    path.write_text('[{"id": "r0",')
    with pytest.raises(SchemaError, match=r"rows.json: not valid JSON"):
        load_samples(path, cache_dir=cache)
