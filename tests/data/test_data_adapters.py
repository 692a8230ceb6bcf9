"""Each adapter on its committed sample file, loaded through load_samples / datasets.load_dataset."""
import json
from pathlib import Path

import pytest

from gpg_vl.data import (ADAPTERS, AdapterContext, SchemaError, adapter_for_source, answer_text,
                         get_adapter, load_samples, open_image)

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("hf_cache"))


def _load(name, cache, **kw):
    return list(load_samples(SAMPLES / name, cache_dir=cache, **kw))


def test_registry_and_known_sources():
    assert {"jsonl", "virft_cls", "virft_lisa", "r1v_geoqa", "r1v_clevr", "sat"} <= set(ADAPTERS)
    assert adapter_for_source("laolao77/ViRFT_CLS_flower_4_shot") == "virft_cls"
    assert adapter_for_source("leonardPKU/clevr_cogen_a_train") == "r1v_clevr"
    assert adapter_for_source("someone/else") is None
    with pytest.raises(ValueError, match="unknown adapter 'nope'"):
        get_adapter("nope")
    with pytest.raises(ValueError, match=r"no option\(s\) \['frame'\]; its options are \['box_frame'\]"):
        get_adapter("virft_lisa", frame="pixels")


def test_answer_text():
    assert answer_text("<answer> 3 </answer>") == "3"
    assert answer_text("<think>hmm</think><answer>Sunflower</answer>") == "Sunflower"
    assert answer_text(" 42 ") == "42"


def test_virft_cls(cache):
    samples = _load("virft_cls.parquet", cache, adapter="virft_cls")
    assert [s["answer"] for s in samples] == ["sunflower", "rose", "daisy"]
    first = samples[0]
    assert first["task"] == "classification" and first["id"] == "virft_cls.parquet:0"
    assert first["labels"] == ["daisy", "rose", "sunflower"]  # label set of the loaded data
    assert first["solution"] == "<answer>sunflower</answer>"  # source columns pass through
    assert "flower" in first["problem"]
    img = open_image(first["images"][0])  # embedded bytes, decoded only now
    assert img.mode == "RGB" and img.size == (32, 32)


def test_r1v_clevr_and_geoqa(cache):
    clevr = _load("r1v_clevr.parquet", cache, adapter="r1v_clevr")
    assert [(s["answer"], s["task"]) for s in clevr] == [("3", "counting"), ("1", "counting"), ("4", "counting")]
    geo = _load("r1v_geoqa.parquet", cache, adapter="r1v_geoqa")
    assert [(s["answer"], s["task"]) for s in geo] == [("70", "math"), ("5", "math")]


def test_virft_lisa_converts_0_1000_boxes_to_pixels(cache):
    samples = _load("virft_lisa.json", cache, adapter="virft_lisa")
    first, second = samples
    assert first["id"] == "lisa_0" and first["task"] == "grounding"
    assert first["images"] == [str(SAMPLES / "images" / "lisa_0.png")]  # relative to the file
    assert first["image_size"] == [48, 32]
    assert first["bbox"] == pytest.approx([12, 8, 36, 24], abs=0.5)  # drawn at these pixels
    assert second["bbox"] == pytest.approx([4, 8, 20, 24], abs=0.5)
    assert first["problem"].startswith("Output the bounding box") and "<img>" not in first["problem"]


def test_virft_lisa_annotation_and_problem_forms(tmp_path, cache):
    image = str(SAMPLES / "images" / "lisa_0.png")
    rows = [{"image_path": image, "instruction": ["the red square", "the square that is red"],
             "boxes": [[12, 8, 36, 24]]}]
    (tmp_path / "ann.json").write_text(json.dumps(rows))
    samples = list(load_samples(tmp_path / "ann.json", adapter="virft_lisa", cache_dir=cache))
    assert [s["id"] for s in samples] == ["ann.json:0:0", "ann.json:0:1"]  # one per phrasing
    assert all(s["bbox"] == [12, 8, 36, 24] for s in samples)
    assert samples[1]["problem"].endswith("the square that is red")
    rows = [{"image": image, "problem": "Find the red square.", "solution": "<answer>[12, 8, 36, 24]</answer>"}]
    (tmp_path / "prob.jsonl").write_text(json.dumps(rows[0]) + "\n")
    pixels = load_samples(tmp_path / "prob.jsonl", adapter="virft_lisa",
                          adapter_options={"box_frame": "pixels"}, cache_dir=cache)
    assert pixels[0]["bbox"] == [12, 8, 36, 24]
    # The same numbers read as Qwen2-VL 0-1000 coordinates are a different box.
    thousand = load_samples(tmp_path / "prob.jsonl", adapter="virft_lisa", cache_dir=cache)
    assert thousand[0]["bbox"] == pytest.approx([0.58, 0.26, 1.73, 0.77], abs=0.01)


def test_sat_letters_shuffled_deterministically(cache):
    samples = _load("sat.parquet", cache, adapter="sat")
    assert [len(s["images"]) for s in samples] == [1, 1, 2]  # SAT has two-image questions
    for s in samples:
        letter = s["answer"]
        assert s["task"] == "choice" and s["choices"][ord(letter) - 65] == s["correct_answer"]
        assert s["aliases"] == {letter: [s["correct_answer"]]}
        assert f"\n{letter}. {s['correct_answer']}" in s["problem"]
    again = _load("sat.parquet", cache, adapter="sat")
    assert [s["choices"] for s in again] == [s["choices"] for s in samples]
    unshuffled = _load("sat.parquet", cache, adapter="sat", adapter_options={"shuffle_choices": False})
    assert [s["choices"] for s in unshuffled] == [s["answers"] for s in samples]
    assert samples[0]["question_type"] == "spatial_relation"


def test_sat_max_images_keeps_the_first(cache):
    """VisualThinker's grpo.py trains on images[0] only; max_images=1 does the same."""
    every = _load("sat.parquet", cache, adapter="sat")
    first = _load("sat.parquet", cache, adapter="sat", adapter_options={"max_images": 1})
    assert [len(s["images"]) for s in first] == [1, 1, 1]
    assert [s["images"][0] for s in first] == [s["images"][0] for s in every]
    assert [s["problem"] for s in first] == [s["problem"] for s in every]
    with pytest.raises(Exception, match="max_images"):
        _load("sat.parquet", cache, adapter="sat", adapter_options={"max_images": 0})


def test_sat_visualthinker_messages(cache):
    (sample,) = _load("sat_visualthinker.json", cache, adapter="sat")
    assert sample["choices"] == ["right", "left"] and sample["answer"] == "B"
    assert sample["problem"].startswith("Answer in natural language.") and "<image>" not in sample["problem"]


def test_sat_wrong_correct_answer_names_row(tmp_path, cache):
    row = {"image_bytes": [str(SAMPLES / "images" / "count_2.png")], "question": "How many?",
           "answers": ["1", "2"], "correct_answer": "3", "question_type": "count"}
    (tmp_path / "sat.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(SchemaError, match=r"sat.jsonl, row 0: correct answer '3' is not one of"):
        load_samples(tmp_path / "sat.jsonl", adapter="sat", cache_dir=cache)


def test_schema_jsonl_and_column_map(cache):
    rows = _load("schema.jsonl", cache, adapter="jsonl")
    assert [s["task"] for s in rows] == ["classification", "counting", "grounding", "choice", "math"]
    assert rows[0]["labels"] == ["daisy", "rose", "sunflower"]  # given labels are kept
    mapped = _load("custom_columns.jsonl", cache, task="counting",
                   column_map={"images": "picture", "problem": "question", "answer": "count"})
    assert [(s["answer"], s["task"]) for s in mapped] == [("3", "counting"), ("2", "counting")]
    assert mapped[0]["images"] == [str(SAMPLES / "images" / "count_3.png")]


def test_callable_adapter_gets_context(tmp_path, cache):
    seen = []

    def adapter(row, ctx):
        assert isinstance(ctx, AdapterContext)
        seen.append(ctx.image_size(row["picture"]))
        return {"images": [row["picture"]], "problem": row["question"], "answer": row["count"],
                "task": "counting"}

    samples = load_samples(SAMPLES / "custom_columns.jsonl", adapter=adapter, cache_dir=cache)
    assert len(samples) == 2 and seen[0] == [48, 32]
