"""The benchmark's work counters, and what they show (issue 6): gpg-vl encodes each prompt's image
once and prefills each prompt once whatever G is, in every family (Qwen3-VL's deepstack features
included); the repeated computation (what TRL runs, HF ``generate`` and a forward over the
group-repeated batch) does both G times."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from gpg_vl.bench.counters import WorkCounter, prompt_token_counts
from gpg_vl.families import FAMILIES
from gpg_vl.models.forward import completion_logprobs, grouped_completion_logprobs
from gpg_vl.processing import encode_prompts, repeat_for_group
from gpg_vl.rollout import generate, suppressed_token_ids

PATCHES = 64  # a 112 x 112 image: 8 x 8 patches of 14 px


def samples() -> list[dict]:
    return [{"id": "a", "images": [Image.new("RGB", (112, 112), (230, 20, 20))], "problem": "What colour?"},
            {"id": "b", "images": [Image.new("RGB", (112, 112), (20, 20, 230))], "problem": "How many squares are there?"}]


@pytest.fixture
def setup(policy_factory):
    model, processor, _ = policy_factory("qwen2_vl")
    batch = encode_prompts(processor, samples())
    counter = WorkCounter(model, processor.tokenizer)
    yield model, processor, batch, counter
    counter.remove()


def test_prompt_token_counts_stop_at_the_generation_prompt():
    header = torch.tensor([7, 8])
    ids = torch.tensor([[0, 0, 5, 7, 8, 3, 3],    # left padding, header at 3-4, completion after
                        [5, 5, 5, 5, 7, 8, 9],    # header at 4-5
                        [5, 5, 5, 5, 5, 5, 5]])   # no header: every real token is prompt
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1] * 7, [1, 1, 1, 1, 0, 0, 0]])
    assert prompt_token_counts(ids, mask, header).tolist() == [3, 6, 4]
    assert prompt_token_counts(ids[:, :1], None, header).tolist() == [1, 1, 1]  # shorter than the header


@pytest.mark.parametrize("g", [4, 16])
def test_grouped_generation_encodes_each_image_once_for_any_g(setup, g):
    model, processor, batch, counter = setup
    generate(model, processor, batch, max_new_tokens=3, num_generations=g,
             generator=torch.Generator().manual_seed(0))
    counts = counter.take()
    assert batch["pixel_values"].shape[0] == 2 * PATCHES
    assert counts["patches"] == 2 * PATCHES  # prompts x patches, not x G
    assert counts["prompt_tokens"] == int(batch["attention_mask"].sum())  # each prompt prefilled once
    assert counts["decode_tokens"] <= 2 * g * 2  # at most G rows x (3 - 1) decoding steps per prompt


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "qwen2_vl"])  # qwen2_vl: the tests above
def test_every_family_encodes_each_image_once_in_sampling_and_update(policy_factory, family):
    """A Qwen3-VL / Qwen3.5 step does the work a Qwen2-VL one does: one vision-tower pass and one
    prefill per prompt in the rollout and again in the update's forward, whatever G is (the
    images' patch count is the processor's grid, read independently of the counters)."""
    model, processor, _ = policy_factory(family)
    batch = encode_prompts(processor, samples())
    patches = int(batch["image_grid_thw"].prod(-1).sum())  # [images, 3] -> t x h x w patches
    real = int(batch["attention_mask"].sum())
    counter = WorkCounter(model, processor.tokenizer)
    try:
        g, c = 8, 3
        with counter.in_phase("gen"):
            ro = generate(model, processor, batch, max_new_tokens=c, num_generations=g,
                          generator=torch.Generator().manual_seed(0), all_done=lambda done: False)
        with counter.in_phase("update"):
            grouped_completion_logprobs(model, ro.prompt, ro.prompt_index, ro.completion_ids,
                                        torch.ones_like(ro.completion_ids)).sum().backward()
        counts = counter.take()
    finally:
        counter.remove()
    assert patches == batch["pixel_values"].shape[0] and patches > 0
    assert counts["gen_patches"] == patches and counts["update_patches"] == patches  # not x G
    # each prompt prefilled once, not x G (the counter stops at "<|im_start|>assistant\n": Qwen3.5's
    # template writes its empty think block after it, which the counter files under completion)
    assert 0 < counts["gen_prompt_tokens"] == counts["update_prompt_tokens"] <= real
    assert counts["gen_decode_tokens"] == 2 * g * (c - 1)  # every row decodes; none re-prefills
    assert counts["update_decode_tokens"] == 2 * g * (c - 1)


def test_repeated_generation_encodes_every_image_g_times(setup):
    """HF generate on the group-repeated batch (TRL's path): the counters see G x the work."""
    model, processor, batch, counter = setup
    g = 4
    rep = repeat_for_group(batch, g, model.config.image_token_id)
    with torch.no_grad():
        model.generate(**rep, max_new_tokens=3, do_sample=False, pad_token_id=processor.tokenizer.pad_token_id,
                       suppress_tokens=suppressed_token_ids(processor.tokenizer))
    counts = counter.take()
    assert counts["patches"] == 2 * g * PATCHES
    assert counts["prompt_tokens"] == g * int(batch["attention_mask"].sum())


def test_grouped_loss_forward_encodes_each_image_once(setup):
    model, processor, batch, counter = setup
    g, c = 8, 5
    rows = torch.arange(2).repeat_interleave(g)  # [N = 16]
    ids = torch.randint(20, 200, (2 * g, c), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    with counter.in_phase("update"):
        grouped_completion_logprobs(model, batch, rows, ids, mask).sum().backward()
    grouped = counter.take()
    rep = repeat_for_group(batch, g, model.config.image_token_id)
    with counter.in_phase("update"):
        completion_logprobs(model, rep, ids, mask).sum().backward()
    repeated = counter.take()
    real = int(batch["attention_mask"].sum())
    assert grouped["update_patches"] == 2 * PATCHES and grouped["update_prompt_tokens"] == real
    assert grouped["update_decode_tokens"] == 2 * g * (c - 1)  # completions fed after the shared prefix
    assert repeated["update_patches"] == 2 * g * PATCHES and repeated["update_prompt_tokens"] == g * real


def test_counters_can_be_removed(setup):
    model, processor, batch, counter = setup
    counter.remove()
    generate(model, processor, batch, max_new_tokens=2, num_generations=2)
    assert counter.take()["patches"] == 0
