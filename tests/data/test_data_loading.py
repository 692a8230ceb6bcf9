"""load_samples: sources (file, folder, save_to_disk), up-front checks and the error messages."""
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from gpg_vl.data import ImageLoadError, SampleSet, SchemaError, load_samples, open_image

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
IMAGE = SAMPLES / "images" / "count_2.png"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("hf_cache"))


def _row(i, image="img.png", **over):
    row = {"id": f"r{i}", "images": [image], "problem": "How many squares?", "answer": "2", "task": "counting"}
    row.update(over)
    return row


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def folder(tmp_path):
    """A data folder with one good image next to the data file."""
    shutil.copy(IMAGE, tmp_path / "img.png")
    return tmp_path


def test_relative_paths_resolve_against_the_data_file(folder, cache):
    (folder / "sub").mkdir()
    shutil.copy(IMAGE, folder / "sub" / "b.png")
    data = _jsonl(folder / "rows.jsonl", [_row(0), _row(1, image="sub/b.png")])
    samples = load_samples(data, cache_dir=cache)
    assert [s["images"] for s in samples] == [[str(folder / "img.png")], [str(folder / "sub" / "b.png")]]


def test_image_root_overrides_the_data_folder(tmp_path, cache):
    data = _jsonl(tmp_path / "rows.jsonl", [_row(0, image="count_2.png")])
    samples = load_samples(data, image_root=SAMPLES / "images", cache_dir=cache)
    assert samples[0]["images"] == [str(IMAGE)]


def test_missing_image_stops_loading_naming_file_row_and_path(folder, cache):
    rows = [_row(0), _row(1), _row(2, image="nowhere/missing.png")]  # bad row last: all rows scanned
    data = _jsonl(folder / "rows.jsonl", rows)
    with pytest.raises(ImageLoadError) as info:
        load_samples(data, cache_dir=cache)
    msg = str(info.value)
    assert "rows.jsonl, row 2" in msg and str(folder / "nowhere" / "missing.png") in msg
    assert "file not found" in msg


def test_skip_policy_drops_and_counts(folder, cache):
    (folder / "broken.png").write_bytes(b"not a png")
    rows = [_row(0), _row(1, image="missing.png"), _row(2), _row(3, image="broken.png")]
    samples = load_samples(_jsonl(folder / "rows.jsonl", rows), on_bad_image="skip", cache_dir=cache)
    assert [s["id"] for s in samples] == ["r0", "r2"]
    assert samples.skipped == 2 and len(samples.bad_images.messages) == 2
    assert "row 1" in samples.bad_images.messages[0] and "row 3" in samples.bad_images.messages[1]


def test_all_rows_bad_is_an_error(folder, cache):
    data = _jsonl(folder / "rows.jsonl", [_row(0, image="missing.png")])
    with pytest.raises(SchemaError, match="no usable samples"):
        load_samples(data, on_bad_image="skip", cache_dir=cache)


def test_missing_column_for_adapter_names_column_and_example_row(folder, cache):
    data = _jsonl(folder / "rows.jsonl", [{"image": "img.png", "problem": "Which flower?"}])
    with pytest.raises(SchemaError) as info:
        load_samples(data, adapter="virft_cls", cache_dir=cache)
    msg = str(info.value)
    assert "adapter 'virft_cls' needs column 'solution', which the data lacks" in msg
    assert "columns present: ['image', 'problem']" in msg
    assert "example row 0: {'image': 'img.png', 'problem': 'Which flower?'}" in msg


def test_missing_schema_field_names_field_and_row(folder, cache):
    rows = [{k: v for k, v in _row(0).items() if k != "problem"}]
    with pytest.raises(SchemaError, match=r"rows.jsonl, row 0: field 'problem' is missing.*row: \{'id': 'r0'"):
        load_samples(_jsonl(folder / "rows.jsonl", rows), cache_dir=cache)


def test_column_map_errors(folder, cache):
    data = _jsonl(folder / "rows.jsonl", [{"img": "img.png", "q": "How many?", "n": 2}])
    with pytest.raises(SchemaError, match="needs column 'question', which the data lacks"):
        load_samples(data, column_map={"problem": "question"}, cache_dir=cache)
    with pytest.raises(ValueError, match=r"unknown schema field\(s\) \['anwser'\]"):
        load_samples(data, column_map={"anwser": "n"}, cache_dir=cache)
    mapped = load_samples(data, column_map={"image": "img", "problem": "q", "answer": "n"},
                          task="counting", cache_dir=cache)
    assert mapped[0]["answer"] == "2" and mapped[0]["images"] == [str(folder / "img.png")]


def test_parquet_with_raw_embedded_bytes(tmp_path, cache):
    """Parquet written by other tools: image bytes in a plain binary column, no HF metadata."""
    table = pa.table({"image": [IMAGE.read_bytes()], "problem": ["How many?"], "answer": ["2"],
                      "task": ["counting"]})
    pq.write_table(table, tmp_path / "raw.parquet")
    (sample,) = load_samples(tmp_path / "raw.parquet", cache_dir=cache)
    assert isinstance(sample["images"][0], bytes)
    assert open_image(sample["images"][0]).size == (48, 32)


def test_image_size_must_match_the_image(folder, cache):
    rows = [_row(0, task="grounding", answer=None, bbox=[1, 1, 10, 10], image_size=[64, 64])]
    with pytest.raises(SchemaError, match=r"row 0: field 'image_size' \[64, 64\] does not match.*\[48, 32\]"):
        load_samples(_jsonl(folder / "rows.jsonl", rows), cache_dir=cache)
    rows = [_row(0, task="grounding", answer=None, bbox=[1, 1, 10, 10])]  # size filled from the header
    assert load_samples(_jsonl(folder / "rows.jsonl", rows), cache_dir=cache)[0]["image_size"] == [48, 32]


def test_duplicate_ids_are_an_error(folder, cache):
    with pytest.raises(SchemaError, match="row 1: duplicate id 'r0' \\(first used in row 0\\)"):
        load_samples(_jsonl(folder / "rows.jsonl", [_row(0), _row(0)]), cache_dir=cache)


def test_check_modes_and_bomb_guard(folder, cache):
    Image.new("L", (1200, 1000)).save(folder / "big.png")
    rows = [_row(0), _row(1, image="big.png")]
    data = _jsonl(folder / "rows.jsonl", rows)
    for mode in (True, "header"):
        kept = load_samples(data, check_images=mode, max_pixels=1_000_000, on_bad_image="skip",
                            cache_dir=cache)
        assert [s["id"] for s in kept] == ["r0"] and kept.skipped == 1
    unchecked = load_samples(_jsonl(folder / "rows.jsonl", [_row(0, image="missing.png")]),
                             check_images=False, cache_dir=cache)
    assert len(unchecked) == 1  # nothing opened: the caller accepted the risk
    with pytest.raises(ValueError, match="check_images"):
        load_samples(data, check_images="fast", cache_dir=cache)


def test_limit_ids_and_sequence_behaviour(folder, cache):
    rows = [{k: v for k, v in _row(i).items() if k != "id"} for i in range(5)]
    samples = load_samples(_jsonl(folder / "rows.jsonl", rows), limit=3, cache_dir=cache)
    assert isinstance(samples, SampleSet) and len(samples) == 3
    assert [s["id"] for s in samples] == ["rows.jsonl:0", "rows.jsonl:1", "rows.jsonl:2"]
    assert [s["id"] for s in samples[1:]] == ["rows.jsonl:1", "rows.jsonl:2"]
    samples[0]["answer"] = "changed"
    assert samples[0]["answer"] == "2"  # every read is a fresh dict
    assert "3 samples" in repr(samples)


def test_folder_and_save_to_disk_sources(folder, cache):
    import datasets

    (folder / "train").mkdir()
    shutil.copy(IMAGE, folder / "train" / "img.png")
    _jsonl(folder / "train" / "rows.jsonl", [_row(0), _row(1)])
    samples = load_samples(folder / "train", cache_dir=cache)
    assert len(samples) == 2 and samples[0]["images"] == [str(folder / "train" / "img.png")]
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list([_row(0, image=str(IMAGE))]),
                               "test": datasets.Dataset.from_list([_row(9, image=str(IMAGE))])})
    dd.save_to_disk(str(folder / "disk"))
    assert load_samples(folder / "disk", split="test")[0]["id"] == "r9"
    with pytest.raises(ValueError, match="no split 'val'"):
        load_samples(folder / "disk", split="val")


def test_bad_source_names(tmp_path, cache):
    with pytest.raises(FileNotFoundError, match="not found: ./nope/rows.jsonl"):
        load_samples("./nope/rows.jsonl", cache_dir=cache)
    (tmp_path / "rows.txt").write_text("x")
    with pytest.raises(ValueError, match="unsupported file type '.txt'"):
        load_samples(tmp_path / "rows.txt", cache_dir=cache)


def test_class_label_columns_give_names(folder, cache):
    import datasets

    features = datasets.Features({"image": datasets.Value("string"), "question": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["daisy", "rose"])})
    ds = datasets.Dataset.from_dict({"image": [str(IMAGE)] * 2, "question": ["Which flower?"] * 2,
                                     "label": [1, 0]}, features=features)
    ds.save_to_disk(str(folder / "cls"))
    samples = load_samples(folder / "cls", column_map={"problem": "question", "answer": "label"},
                           task="classification")
    assert [s["answer"] for s in samples] == ["rose", "daisy"]  # names, not class indices
    assert samples[0]["labels"] == ["daisy", "rose"]
