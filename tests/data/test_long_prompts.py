"""data.max_prompt_length (issue 5): rows whose prompt, counted the way the processor expands it,
is over the limit are skipped with a counted warning naming the file and row, or refused with an
error naming file, row and length; never truncated (the anchors' left cut can cut image tokens)."""
from __future__ import annotations

import json
import logging

import pytest
from PIL import Image

from gpg_vl.data import load_samples
from gpg_vl.data.long_prompts import LongPromptCounter, PromptTooLongError
from gpg_vl.models import load_processor
from gpg_vl.processing import encode_prompts, prompt_length

TEMPLATE = "{problem} Output the final answer in <answer> </answer> tags."
LONG = "Count the squares. " * 40


@pytest.fixture(scope="module")
def processor(tiny_dirs):
    return load_processor(str(tiny_dirs["qwen2_vl"]))


@pytest.fixture
def data(tmp_path):
    """Three rows: short, long text, short text with a large image (more image tokens)."""
    Image.new("RGB", (56, 56), (200, 30, 30)).save(tmp_path / "small.png")
    Image.new("RGB", (336, 336), (30, 30, 200)).save(tmp_path / "large.png")
    rows = [{"id": "short", "images": ["small.png"], "problem": "How many?", "answer": "1", "task": "counting"},
            {"id": "wordy", "images": ["small.png"], "problem": LONG, "answer": "1", "task": "counting"},
            {"id": "big", "images": ["large.png"], "problem": "How many?", "answer": "1", "task": "counting"}]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def lengths(processor, path) -> dict[str, int]:
    """Each row's prompt length from the real encoding (the value the check must reproduce)."""
    samples = load_samples(path)
    return {s["id"]: len(encode_prompts(processor, [s], prompt_template=TEMPLATE)["input_ids"][0]) for s in samples}


def counter(processor):
    return lambda sample, sizes: prompt_length(processor, sample, sizes, prompt_template=TEMPLATE)


def test_the_three_rows_differ_as_intended(processor, data):
    n = lengths(processor, data)
    assert n["short"] < n["big"] < n["wordy"] or n["short"] < n["wordy"] < n["big"]
    assert n["big"] - n["short"] == (336 // 28) ** 2 - 4  # 144 tokens against 4, same text


@pytest.mark.parametrize("which", ["wordy", "big"])
def test_rows_over_the_limit_are_skipped_and_counted(processor, data, which, caplog):
    n = lengths(processor, data)
    limit = n[which] - 1  # one token short for this row (and any longer one)
    with caplog.at_level(logging.WARNING):
        samples = load_samples(data, prompt_length=counter(processor), max_prompt_length=limit)
    kept = {s["id"] for s in samples}
    assert "short" in kept and which not in kept
    assert kept == {k for k, v in n.items() if v <= limit}
    assert samples.long_prompts.skipped == 3 - len(kept)
    assert f"{3 - len(kept)} long prompts skipped" in repr(samples)
    assert "train.jsonl" in caplog.text and f"id {which!r}" in caplog.text
    assert "longer than max_prompt_length" in caplog.text and "skipped" in caplog.text


def test_a_limit_at_the_exact_length_keeps_the_row(processor, data):
    n = lengths(processor, data)
    samples = load_samples(data, prompt_length=counter(processor), max_prompt_length=max(n.values()))
    assert len(samples) == 3 and samples.long_prompts.skipped == 0
    samples = load_samples(data, prompt_length=counter(processor), max_prompt_length=max(n.values()) - 1)
    assert len(samples) == 2 and samples.long_prompts.skipped == 1


def test_error_policy_names_file_row_and_length(processor, data):
    n = lengths(processor, data)
    with pytest.raises(PromptTooLongError) as err:
        load_samples(data, prompt_length=counter(processor), max_prompt_length=n["short"],
                     on_long_prompt="error")
    message = str(err.value)
    first_long = 1 if n["wordy"] > n["short"] else 2
    row_id = ["short", "wordy", "big"][first_long]
    assert "train.jsonl" in message and f"row {first_long}" in message and repr(row_id) in message
    assert f"is {n[row_id]} tokens" in message and f"max_prompt_length {n['short']}" in message


def test_skipping_everything_is_an_error_that_says_why(processor, data):
    with pytest.raises(Exception, match="no usable samples.*prompts over 5 tokens"):
        load_samples(data, prompt_length=counter(processor), max_prompt_length=5)


def test_counter_options_are_checked():
    with pytest.raises(ValueError, match="on_long_prompt"):
        LongPromptCounter(length=lambda s, z: 0, max_length=10, policy="truncate")
    with pytest.raises(ValueError, match="go together"):
        LongPromptCounter(max_length=10)
