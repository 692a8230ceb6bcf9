"""validate_sample: required fields per task, field shapes, and errors that name source/row/field."""
import pytest

from gpg_vl.data.schema import (MissingColumnError, SchemaError, column, format_row,
                                required_fields, validate_sample)


def _sample(**over):
    base = {"id": "a", "images": ["/x.png"], "problem": "How many?", "answer": "3", "task": "counting"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


def test_valid_samples_pass_unchanged():
    s = _sample()
    assert validate_sample(s) is s
    grounding = _sample(task="grounding", answer=None, bbox=[1, 2, 30, 20], image_size=[48, 32])
    validate_sample(grounding)
    validate_sample(_sample(task="my_custom_task", answer=None))  # unknown tasks: base fields only


def test_required_fields_per_task():
    assert required_fields("grounding") == ("id", "images", "problem", "task", "bbox", "image_size")
    assert "answer" in required_fields("choice")
    assert required_fields(None) == ("id", "images", "problem", "task")


def test_missing_field_names_source_row_field_and_shows_row():
    with pytest.raises(SchemaError) as info:
        validate_sample(_sample(answer=None), source="train.jsonl", index=4)
    msg = str(info.value)
    assert msg.startswith("train.jsonl, row 4: field 'answer' is missing")
    assert "'task': 'counting'" in msg  # the row is shown


def test_grounding_needs_box_and_size():
    with pytest.raises(SchemaError, match="'image_size' is missing"):
        validate_sample(_sample(task="grounding", bbox=[1, 2, 3, 4]))


@pytest.mark.parametrize("over, field, words", [
    ({"bbox": [5, 5, 2, 9], "image_size": [48, 32]}, "bbox", "x1 < x2"),
    ({"bbox": [1, 2, 3], "image_size": [48, 32]}, "bbox", "4 finite numbers"),
    ({"bbox": [100, 100, 900, 900], "image_size": [48, 32]}, "bbox", "outside the image"),
    ({"image_size": [0, 32]}, "image_size", "[W, H]"),
    ({"choices": "A,B"}, "choices", "list of strings"),
    ({"aliases": {"B": "sunflower"}}, "aliases", "list of strings"),
    ({"images": []}, "images", "non-empty list"),
    ({"answer": 3}, "answer", "string or None"),
    ({"problem": "  "}, "problem", "non-empty string"),
])
def test_malformed_fields(over, field, words):
    with pytest.raises(SchemaError) as info:
        validate_sample(_sample(**over), source="d.parquet", index=2)
    assert f"field '{field}'" in str(info.value) and words in str(info.value)


def test_box_tolerates_one_pixel_of_rounding():
    validate_sample(_sample(task="grounding", bbox=[-0.5, 0, 48.9, 32], image_size=[48, 32]))


def test_format_row_summarises_bytes_and_truncates():
    row = {"image": {"bytes": b"\x89PNG" * 10_000, "path": None}, "problem": "x" * 500}
    text = format_row(row)
    assert "<40000 bytes>" in text and len(text) <= 600 and "PNG" not in text


def test_column_lists_available_columns():
    with pytest.raises(MissingColumnError, match=r"'solution' not found; columns present: \['image', 'problem'\]"):
        column({"problem": "p", "image": None}, "solution")
