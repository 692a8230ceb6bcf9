"""The update's forward: completion-only chunked log-probs, and the grouped (prefill-once) forward
against the plain repeated computation, in values and in gradients (vision tower included)."""
from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from gpg_vl.families import FAMILIES
from gpg_vl.models.forward import (LogprobModel, completion_logprobs, grouped_completion_logprobs,
                                   token_logprobs)
from gpg_vl.processing import encode_prompts, repeat_for_group, select_rows
from gpg_vl.rollout import suppressed_token_ids

G = 2
# Families whose language model computes in float32 whatever the model dtype: Qwen3.5's Gated
# DeltaNet (transformers torch_chunk_gated_delta_rule casts to float32) and the MoE experts
# (torch grouped_mm takes no float64, so that model stays float32 here).
FLOAT32_ONLY = {"qwen3_5", "qwen3_vl_moe"}
NO_FLOAT64 = {"qwen3_vl_moe"}
# Completion masks [N=6, C=5]: full rows, early ends, a single-token row.
MASK = torch.tensor([[1, 1, 1, 1, 1],
                     [1, 1, 0, 0, 0],
                     [1, 1, 1, 0, 0],
                     [1, 0, 0, 0, 0],
                     [1, 1, 1, 1, 1],
                     [1, 1, 1, 1, 0]])


def samples() -> list[dict]:
    return [{"id": "a", "images": [Image.new("RGB", (56, 56), (230, 20, 20))], "problem": "What colour?"},
            {"id": "b", "images": [Image.new("RGB", (112, 84), (20, 20, 230))], "problem": "How many squares?"},
            {"id": "c", "images": [], "problem": "Hi"}]


def completions(processor, n: int, c: int, seed: int = 0) -> torch.Tensor:
    """Random non-vision token ids [n, c]."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(20, len(processor.tokenizer), (n, c), generator=gen)
    banned = torch.tensor(suppressed_token_ids(processor.tokenizer))
    return ids.masked_fill(torch.isin(ids, banned), 20)


# --- token_logprobs --------------------------------------------------------------------------

def linear_head(weight: torch.Tensor) -> torch.nn.Linear:
    """An LM head (no bias) holding ``weight`` [V, H]."""
    head = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        head.weight.copy_(weight)
    return head


@pytest.mark.parametrize("chunk", [1, 3, 6, 7, 8, 1024])
def test_chunked_token_logprobs_equal_full_log_softmax(chunk):
    gen = torch.Generator().manual_seed(0)
    k, h, v = 7, 16, 11
    hidden = torch.randn(k, h, generator=gen, requires_grad=True)
    head = linear_head(torch.randn(v, h, generator=gen))
    targets = torch.randint(0, v, (k,), generator=gen)
    out = token_logprobs(hidden, head, targets, chunk_tokens=chunk)
    assert out.shape == (k,)
    ref = torch.log_softmax(hidden @ head.weight.T, dim=-1)[torch.arange(k), targets]
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # Gradients through the checkpointed chunks equal the full computation's.
    scale = torch.arange(1.0, k + 1)
    gh, gw = torch.autograd.grad((out * scale).sum(), (hidden, head.weight))
    rh, rw = torch.autograd.grad((ref * scale).sum(), (hidden, head.weight))
    torch.testing.assert_close(gh, rh, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gw, rw, atol=1e-5, rtol=1e-5)


def test_token_logprobs_hand_values():
    # Zero hidden states give uniform logits: log(1/V) for any target.
    out = token_logprobs(torch.zeros(3, 4), linear_head(torch.randn(5, 4)), torch.tensor([0, 4, 2]), chunk_tokens=2)
    torch.testing.assert_close(out, torch.full((3,), -math.log(5)))
    # Logits [0, ln 3] -> probabilities 1/4, 3/4.
    head = linear_head(torch.tensor([[0.0], [math.log(3.0)]]))
    out = token_logprobs(torch.tensor([[1.0], [1.0]]), head, torch.tensor([0, 1]), chunk_tokens=1)
    torch.testing.assert_close(out, torch.tensor([math.log(0.25), math.log(0.75)]))


def test_token_logprobs_of_nothing():
    assert token_logprobs(torch.zeros(0, 4), linear_head(torch.zeros(5, 4)),
                          torch.zeros(0, dtype=torch.long)).shape == (0,)


# --- completion_logprobs ----------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_completion_logprobs_match_the_full_model_logits(policy_factory, family):
    model, processor, _ = policy_factory(family)
    model.eval()
    prompt = repeat_for_group(encode_prompts(processor, samples()), G, model.config.image_token_id)
    ids = completions(processor, 3 * G, 5)
    with torch.no_grad():
        out = completion_logprobs(model, prompt, ids, MASK, chunk_tokens=4)  # [N, C]
        full = model(input_ids=torch.cat([prompt["input_ids"], ids], 1),
                     attention_mask=torch.cat([prompt["attention_mask"], MASK], 1),
                     mm_token_type_ids=torch.cat([prompt["mm_token_type_ids"], torch.zeros_like(ids)], 1),
                     pixel_values=prompt["pixel_values"], image_grid_thw=prompt["image_grid_thw"]).logits
    p = prompt["input_ids"].shape[1]
    ref = torch.log_softmax(full[:, p - 1:-1].float(), -1).gather(-1, ids[..., None]).squeeze(-1)  # [N, C]
    assert out.shape == (3 * G, 5)
    torch.testing.assert_close(out[MASK.bool()], ref[MASK.bool()], atol=1e-4, rtol=1e-4)
    assert (out[~MASK.bool()] == 0).all()
    assert (out[MASK.bool()] < 0).all()


# --- grouped_completion_logprobs -------------------------------------------------------------

def loss_and_grads(model, logprobs: torch.Tensor) -> tuple[torch.Tensor, dict]:
    weights = torch.linspace(-1.0, 1.5, logprobs.numel()).reshape(logprobs.shape)  # distinct per token
    model.zero_grad(set_to_none=True)
    (logprobs * weights).sum().backward()
    return logprobs.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("family", FAMILIES)
def test_grouped_forward_equals_repeated_forward_in_values_and_gradients(policy_factory, family):
    model, processor, _ = policy_factory(family)
    model.eval()  # no dropout in these models; eval keeps both passes identical regardless
    batch = encode_prompts(processor, samples())
    if family not in NO_FLOAT64:
        model.double()  # float64 trunk: the rest of a difference is the head's float32 logits (~1e-5)
        batch["pixel_values"] = batch["pixel_values"].double()
    ids = completions(processor, 3 * G, 5)
    rows = torch.arange(3).repeat_interleave(G)  # [0, 0, 1, 1, 2, 2]

    rep = repeat_for_group(batch, G, model.config.image_token_id)
    ref, ref_grads = loss_and_grads(model, completion_logprobs(model, rep, ids, MASK, chunk_tokens=3))
    out, grads = loss_and_grads(model, grouped_completion_logprobs(model, batch, rows, ids, MASK, chunk_tokens=3))

    assert out.shape == (3 * G, 5)
    assert (out[~MASK.bool()] == 0).all()
    assert (out - ref).abs().max() <= 1e-4
    names = {n for n, _ in model.named_parameters()}
    assert set(grads) == set(ref_grads) == names  # every parameter gets a gradient, both ways
    visual = [n for n in names if n.startswith("model.visual.")]
    assert visual and any(ref_grads[n].abs().max() > 1e-6 for n in visual)  # the images matter
    # Relative to the gradient's size. A float32 language model (FLOAT32_ONLY), on gradients up to ~1e2
    # with these scrambled weights, rounds to ~2e-4 of a gradient; a row paired with the wrong prompt's
    # states moves it by O(1).
    tol = 1e-3 if family in FLOAT32_ONLY else 1e-4
    for name in names:
        scale = max(1.0, float(ref_grads[name].abs().max()))
        assert (grads[name] - ref_grads[name]).abs().max() <= tol * scale, name


def test_grouped_forward_notices_rows_paired_with_the_wrong_prompt(policy_factory):
    """The equality above could fail: pairing rows with other prompts changes the values."""
    model, processor, _ = policy_factory("qwen2_vl")
    model.eval()
    batch = encode_prompts(processor, samples())
    ids = completions(processor, 3 * G, 5)
    with torch.no_grad():
        right = grouped_completion_logprobs(model, batch, torch.tensor([0, 0, 1, 1, 2, 2]), ids, MASK)
        wrong = grouped_completion_logprobs(model, batch, torch.tensor([1, 1, 0, 0, 2, 2]), ids, MASK)
    assert (right[:4] - wrong[:4]).abs().max() > 1e-2
    torch.testing.assert_close(right[4:], wrong[4:])


def test_logprob_model_wraps_the_grouped_forward(policy_factory):
    model, processor, _ = policy_factory("qwen2_5_vl")
    model.eval()
    batch = encode_prompts(processor, samples()[:2])
    ids = completions(processor, 4, 3)
    mask = torch.ones(4, 3, dtype=torch.long)
    rows = torch.tensor([1, 0, 1, 0])  # any order of rows
    with torch.no_grad():
        a = LogprobModel(model)(batch, rows, ids, mask)
        b = grouped_completion_logprobs(model, batch, rows, ids, mask)
        c = completion_logprobs(model, select_rows(batch, rows.tolist(), model.config.image_token_id),
                                ids, mask)
    assert torch.equal(a, b)
    assert (b - c).abs().max() <= 1e-4


def test_grouped_forward_with_one_completion_token(policy_factory):
    model, processor, _ = policy_factory("qwen2_vl")
    model.eval()
    batch = encode_prompts(processor, samples())
    ids = completions(processor, 3 * G, 1)
    mask = torch.ones(3 * G, 1, dtype=torch.long)
    rows = torch.arange(3).repeat_interleave(G)
    with torch.no_grad():
        out = grouped_completion_logprobs(model, batch, rows, ids, mask)
        ref = completion_logprobs(model, repeat_for_group(batch, G, model.config.image_token_id), ids, mask)
    assert out.shape == (3 * G, 1)
    assert (out - ref).abs().max() <= 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_reused_image_features_give_the_pixel_path_s_logprobs_and_language_gradients(policy_factory, family):
    """A frozen vision tower: the prompt's images encoded once (``encode_images``, as sampling
    does) give the same log-probs and language-model gradients as the pixels, also after
    ``select_rows`` picks a sub-batch (the update's micro-batches), and the vision tower is not run."""
    from gpg_vl.models.forward import base_and_head, encode_images

    model, processor, _ = policy_factory(family)
    model.eval()
    base_and_head(model)[0].visual.requires_grad_(False)
    batch = encode_prompts(processor, samples())
    encoded = encode_images(base_and_head(model)[0], batch)
    assert "pixel_values" not in encoded and len(encoded["image_features"]) == 2  # one per image
    ids = completions(processor, 3 * G, 5)
    rows = torch.arange(3).repeat_interleave(G)
    ref, ref_grads = loss_and_grads(model, grouped_completion_logprobs(model, batch, rows, ids, MASK))

    calls = []
    hook = base_and_head(model)[0].visual.register_forward_hook(lambda *_: calls.append(1))
    out, grads = loss_and_grads(model, grouped_completion_logprobs(model, encoded, rows, ids, MASK))
    hook.remove()
    assert not calls  # the update does not run the vision tower again
    assert (out - ref).abs().max() <= 1e-5
    assert set(grads) == set(ref_grads) and not any(n.startswith("model.visual.") for n in grads)
    for name in grads:
        assert (grads[name] - ref_grads[name]).abs().max() <= 1e-5, name

    image_token = model.config.image_token_id  # prompt 1 alone, as a micro-batch would take it
    sub_ref = select_rows(batch, [1], image_token)
    sub = select_rows(encoded, [1], image_token)
    assert len(sub["image_features"]) == 1 and torch.equal(sub["image_grid_thw"], sub_ref["image_grid_thw"])
    with torch.no_grad():
        one = torch.tensor([0, 0])
        torch.testing.assert_close(grouped_completion_logprobs(model, sub, one, ids[2:4], MASK[2:4]),
                                   grouped_completion_logprobs(model, sub_ref, one, ids[2:4], MASK[2:4]))
