"""Prompt formats (issue 5): raw prompts with the images where ``{image}`` stands and a completion
prefix (VisualThinker-R1-Zero's base-model prompt), and prompt lengths counted the way the
processor expands them, without decoding an image."""
from __future__ import annotations

import pytest
from PIL import Image

from gpg_vl.families import FAMILIES, IMAGE_PLACEHOLDER
from gpg_vl.models import load_processor
from gpg_vl.processing import encode_prompts, image_token_count, prompt_length, prompt_text
from gpg_vl.prompts import check_prompt_template, render_prompt, template_fields

# VisualThinker-R1-Zero grpo.py, base model: "<image>" + this prompt, the image item first.
RAW = ("{image}<image>A conversation between User and Assistant. The user asks a question about the "
       "image, and the Assistant solves it.\nUser: {problem} \nAssistant: Let me solve this step by step.\n")
PREFIX = "<think>"


@pytest.fixture(scope="module", params=list(FAMILIES))
def processor(request, tiny_dirs):
    return load_processor(str(tiny_dirs[request.param]))


def ids_of(processor, text: str) -> list[int]:
    return processor.tokenizer(text, add_special_tokens=False)["input_ids"]


def image_runs(ids: list[int], image_id: int) -> list[tuple[int, int]]:
    """(start, length) of each run of consecutive image placeholder tokens."""
    runs, start = [], None
    for i, t in enumerate(ids + [None]):
        if t == image_id and start is None:
            start = i
        elif t != image_id and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


def sample(size=(112, 84), problem="Is the red square on the left?", images=1) -> dict:
    return {"id": "s", "problem": problem, "task": "choice",
            "images": [Image.new("RGB", size, (200, 30, 30)) for _ in range(images)]}


# --- templates -----------------------------------------------------------------------------

def test_render_prompt_puts_one_placeholder_per_image_where_the_template_says():
    s = {"id": "x", "problem": "Q?", "images": ["a.png", "b.png"]}
    assert render_prompt(s, "{image}Q: {problem}") == IMAGE_PLACEHOLDER * 2 + "Q: Q?"
    assert render_prompt({**s, "images": []}, "{image}{problem}") == "Q?"
    assert template_fields("{image}{problem} {problem}") == ["image", "problem", "problem"]


@pytest.mark.parametrize("template, fmt, message", [
    ("{problem}", "raw", "must contain {image} once"),
    ("{image}{problem}{image}", "raw", r"found 2"),
    ("{image} {problem}", "chat", "raw prompt"),
    ("{problem", "chat", "not a valid format string"),
    ("{problem}", "jinja", "prompt format"),
])
def test_template_checks_name_the_problem(template, fmt, message):
    with pytest.raises(ValueError, match=message):
        check_prompt_template(template, fmt)


# --- encoded ids ---------------------------------------------------------------------------

def test_raw_prompt_ids_have_one_image_run_and_end_with_the_prefill(processor):
    batch = encode_prompts(processor, [sample()], prompt_template=RAW, prompt_format="raw",
                           completion_prefix=PREFIX)
    ids = batch["input_ids"][0].tolist()
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    grid = batch["image_grid_thw"]
    assert grid.tolist() == [[1, 6, 8]]  # 112 x 84 at the tiny processor's limits: no resize
    expected_run = int(grid.prod()) // processor.image_processor.merge_size ** 2  # 12 tokens
    assert image_runs(ids, image_id) == [(1, expected_run)]  # right after <|vision_start|>
    tok = processor.tokenizer
    assert ids[0] == tok.convert_tokens_to_ids("<|vision_start|>")
    assert ids[1 + expected_run] == tok.convert_tokens_to_ids("<|vision_end|>")
    prefill = ids_of(processor, PREFIX)
    assert ids[-len(prefill):] == prefill
    assert tok.convert_tokens_to_ids("<|im_start|>") not in ids  # no chat template
    text = tok.decode(ids[2 + expected_run:])
    assert text.startswith("<image>A conversation") and text.endswith("step by step.\n<think>")


def test_chat_prompt_with_a_prefix_continues_the_assistant_turn(processor):
    plain = encode_prompts(processor, [sample()])["input_ids"][0].tolist()
    prefilled = encode_prompts(processor, [sample()], completion_prefix=PREFIX)["input_ids"][0].tolist()
    assert prefilled == plain + ids_of(processor, PREFIX)
    # the assistant header, or (Qwen3.5's template, reasoning on by default) the header and an opened <think>
    assert processor.tokenizer.decode(plain).endswith(("<|im_start|>assistant\n", "<|im_start|>assistant\n<think>\n"))


def test_the_placeholder_is_what_the_chat_template_writes_for_an_image(processor):
    text, _ = prompt_text(processor, {"id": "x", "problem": "Q"}, ["img"])
    assert text.count(IMAGE_PLACEHOLDER) == 1


def test_raw_prompt_refuses_a_system_prompt(processor):
    with pytest.raises(ValueError, match="system message"):
        encode_prompts(processor, [sample()], prompt_template=RAW, prompt_format="raw", system_prompt="S")


# --- prompt_length -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, template, prefix", [
    ("chat", "{problem} Output the thinking process in <think> </think> tags.", ""),
    ("chat", "{problem}", PREFIX),
    ("raw", RAW, PREFIX),
])
@pytest.mark.parametrize("size, images, limits", [
    ((112, 84), 1, {}),                                        # kept as it is
    ((500, 300), 1, {}),                                       # resized to multiples of 28
    ((1000, 700), 1, {}),                                      # shrunk by the processor's own max_pixels
    ((500, 300), 1, {"min_pixels": 3136, "max_pixels": 12544}),  # shrunk by the limits
    ((30, 20), 1, {"min_pixels": 28 * 28 * 9}),                # grown by min_pixels
    ((300, 140), 2, {"max_pixels": 28 * 28 * 20}),             # two images
    ((56, 56), 0, {}),                                         # no image
])
def test_prompt_length_is_the_processor_s_length(processor, fmt, template, prefix, size, images, limits):
    s = sample(size, images=images)
    kwargs = dict(prompt_template=template, prompt_format=fmt, completion_prefix=prefix, **limits)
    batch = encode_prompts(processor, [s], **kwargs)
    expected = len(batch["input_ids"][0])
    refs = {**s, "images": [f"image-{k}.png" for k in range(images)]}  # sizes only: nothing is decoded
    assert prompt_length(processor, refs, [size] * images, **kwargs) == expected
    if images:  # and each image's count is the one the processor's grid gives
        grid = batch["image_grid_thw"][0]
        assert image_token_count(processor, size, **limits) == int(grid.prod()) // 4


def test_prompt_length_counts_what_a_long_problem_adds(processor):
    short = prompt_length(processor, sample(problem="Q?"), [(112, 84)])
    longer = prompt_length(processor, sample(problem="Q? " * 50), [(112, 84)])
    assert longer - short == len(ids_of(processor, "Q? " * 50)) - len(ids_of(processor, "Q?"))
