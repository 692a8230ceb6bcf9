"""rollout.engine=vllm: the colocated vLLM engine samples as the hf engine does and holds the
trainer's weights after every update (full fine-tuning, LoRA merged on the fly, frozen vision).

Runs in the vLLM environment (.venv-vllm: vLLM's CPU build here; scripts/test.sh runs this folder
there); skipped where vLLM is not importable. One engine per family is shared by the module (an
engine takes ~25 s to start on 2 cores); each test pushes its own weights into it first.
"""
from __future__ import annotations

import os

import pytest
import torch

from gpg_vl.config import Config, load_config
from gpg_vl.models.forward import grouped_completion_logprobs
from gpg_vl.processing import encode_prompts
from gpg_vl.rollout import generate
from gpg_vl.trainer.engine import prompt_images
from gpg_vl.trainer.setup import apply_lora, prompt_kwargs, vision_tower

vllm = pytest.importorskip("vllm")
pytestmark = [pytest.mark.slow, pytest.mark.vllm]

MAX_NEW = 6
OVERRIDES = ["model.min_pixels=12544", "model.max_pixels=12544", f"rollout.max_new_tokens={MAX_NEW}",
             "rollout.vllm.gpu_memory_utilization=0.1", "rollout.vllm.enforce_eager=true",
             "rollout.vllm.max_model_len=512"]


class Prompts:
    """Encoded prompts and their images, as the trainer hands them to an engine."""

    def __init__(self, cfg, processor, samples):
        self.encode_kwargs = prompt_kwargs(cfg)
        self.processor = processor
        self.batch = encode_prompts(processor, samples, **self.encode_kwargs)
        self.images = prompt_images(processor, self.encode_kwargs, samples)


@pytest.fixture(scope="module")
def engines(tiny_dirs, synthetic_data):
    """family -> (engine, cfg, Prompts of 3 training rows: one per task)."""
    from gpg_vl.data.dataset import load_samples
    from gpg_vl.engines.vllm import VllmEngine
    from gpg_vl.models import load_policy

    # vLLM's CPU build sizes its KV cache as the fraction minus this whole process's memory (the
    # trainer's included); a fixed 1 GiB keeps two engines beside pytest on a shared machine
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    samples = load_samples(str(synthetic_data["train"]))[:3]
    out = {}
    for family in ("qwen2_vl", "qwen2_5_vl"):
        cfg = load_config(Config, None, [f"model.path={tiny_dirs[family]}", *OVERRIDES])
        model, processor, _ = load_policy(str(tiny_dirs[family]), min_pixels=12544, max_pixels=12544)
        engine = VllmEngine(str(tiny_dirs[family]), model, processor, cfg.rollout,
                            mm_kwargs={"min_pixels": 12544, "max_pixels": 12544})
        out[family] = (engine, cfg, Prompts(cfg, processor, samples))
    yield out
    for engine, _, _ in out.values():
        engine.llm.llm_engine.engine_core.shutdown() if hasattr(engine.llm.llm_engine, "engine_core") else None


def fresh_policy(policy_factory, family, seed=0):
    model, processor, _ = policy_factory(family, seed=seed, min_pixels=12544, max_pixels=12544)
    return model


def trainer_logprobs(model, prompts, completions: torch.Tensor) -> torch.Tensor:
    """The trainer's log-probs [B, C] of ``completions`` [B, C] (one per prompt), a plain forward."""
    b = completions.shape[0]
    with torch.no_grad():
        return grouped_completion_logprobs(model, prompts.batch, torch.arange(b), completions,
                                           torch.ones_like(completions))


def vllm_logprobs(engine, prompts, completions: torch.Tensor) -> torch.Tensor:
    return torch.stack(engine.prompt_logprobs(prompts.batch, prompts.images, completions.tolist()))


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_greedy_tokens_identical_between_engines(family, engines, policy_factory):
    engine, cfg, prompts = engines[family]
    model = fresh_policy(policy_factory, family)  # scrambled: outputs depend on every weight and the image
    engine.synced_version = None
    assert engine.sync(model, 0) == len([p for p in model.parameters()])  # everything, the first time
    ours = generate(model, prompts.processor, prompts.batch, max_new_tokens=MAX_NEW, do_sample=False)
    theirs = engine.generate(prompts.batch, prompts.images, None, 1, greedy=True)
    assert theirs.completion_ids.tolist() == ours.completion_ids.tolist()
    assert torch.equal(theirs.completion_mask, ours.completion_mask)
    assert theirs.texts == ours.texts
    # teacher-forced, vLLM's log-probs of the greedy tokens are the trainer's
    lp = trainer_logprobs(model, prompts, ours.completion_ids)
    assert (vllm_logprobs(engine, prompts, ours.completion_ids) - lp).abs().max() < 1e-3
    # the log-prob vLLM reports for each sampled token is that of the distribution sampled from:
    # the trainer's softmax without the vision placeholder tokens (never sampled), renormalised
    logits = next_token_logits(model, prompts, ours.completion_ids)  # [B, C, V]
    logits[..., engine.banned] = float("-inf")
    want = torch.log_softmax(logits, -1).gather(-1, ours.completion_ids[..., None]).squeeze(-1)
    assert (theirs.sampler_logprobs - want).abs().max() < 1e-3


def next_token_logits(model, prompts, completions: torch.Tensor) -> torch.Tensor:
    """Logits [B, C, V] before each completion token, from one plain full forward."""
    from gpg_vl.models.forward import base_and_head

    b, p = prompts.batch["input_ids"].shape
    trunk, head = base_and_head(model)
    with torch.no_grad():
        out = trunk(input_ids=torch.cat([prompts.batch["input_ids"], completions], 1),
                    attention_mask=torch.cat([prompts.batch["attention_mask"], torch.ones_like(completions)], 1),
                    mm_token_type_ids=torch.cat([prompts.batch["mm_token_type_ids"], torch.zeros_like(completions)], 1),
                    pixel_values=prompts.batch["pixel_values"], image_grid_thw=prompts.batch["image_grid_thw"],
                    use_cache=False)
        return head(out.last_hidden_state[:, p - 1:-1]).float()


def take_steps(model, prompts, k: int, lr: float = 0.05) -> None:
    """k optimizer steps that move every trainable weight (a log-likelihood on fixed tokens)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(1)
    targets = torch.randint(10, 300, (prompts.batch["input_ids"].shape[0], 4), generator=gen)
    for _ in range(k):
        loss = -grouped_completion_logprobs(model, prompts.batch, torch.arange(targets.shape[0]), targets,
                                            torch.ones_like(targets)).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()


@pytest.mark.parametrize("setting", ["full", "lora", "frozen_vision"])
def test_weight_sync_after_updates(setting, engines, policy_factory):
    """After k=2 updates and a sync, vLLM's log-probs of a fixed completion are the trainer's."""
    engine, _, prompts = engines["qwen2_5_vl"]
    model = fresh_policy(policy_factory, "qwen2_5_vl", seed=3)
    if setting == "lora":
        from gpg_vl.config import LoraConfig
        from gpg_vl.families import get_family

        model = apply_lora(model, LoraConfig(r=4, alpha=8, dropout=0.0), get_family("qwen2_5_vl"))
    if setting == "frozen_vision":
        vision_tower(model).requires_grad_(False)
    engine.synced_version = None
    total = engine.sync(model, 0)
    fixed = torch.randint(10, 300, (prompts.batch["input_ids"].shape[0], 5), generator=torch.Generator().manual_seed(2))
    before = vllm_logprobs(engine, prompts, fixed)
    take_steps(model, prompts, k=2)
    if setting == "lora":  # make the adapters' B non-zero: LoRA starts as a no-op
        assert any("lora_B" in n and p.abs().sum() > 0 for n, p in model.named_parameters())
    sent = engine.sync(model, 2)
    after, want = vllm_logprobs(engine, prompts, fixed), trainer_logprobs(model, prompts, fixed)
    assert (after - before).abs().max() > 1e-2  # the update moved vLLM's weights
    assert (after - want).abs().max() < 1e-3
    if setting == "frozen_vision":  # the vision tower was sent once, not again
        n_vision = sum(1 for n, _ in model.named_parameters() if ".visual." in n)
        assert sent <= total - n_vision
    if setting == "lora":  # only blocks with adapters (attention and MLP of the language model)
        assert sent < total


def test_prompt_seed_gives_same_samples_in_any_batch(engines, policy_factory):
    """A prompt's samples depend on its seed only, not on its batch (so not on its rank)."""
    engine, cfg, prompts = engines["qwen2_vl"]
    model = fresh_policy(policy_factory, "qwen2_vl", seed=5)
    engine.synced_version = None
    engine.sync(model, 0)
    together = engine.generate(prompts.batch, prompts.images, [11, 22, 33], 3)
    last = engine.generate(_one_prompt(prompts, 2), prompts.images[2:], [33], 3)
    assert rows_of(together)[6:] == rows_of(last)
    again = engine.generate(prompts.batch, prompts.images, [11, 22, 34], 3)
    assert rows_of(again)[:6] == rows_of(together)[:6]
    assert rows_of(again)[6:] != rows_of(together)[6:]  # a new seed, new samples
    assert len({tuple(r) for r in rows_of(together)[:3]}) > 1  # the G samples of a prompt differ


def test_seeded_batch_larger_than_one_scheduler_step(engines, policy_factory):
    """Seeded prompts of more tokens than vLLM schedules in one step (3 prompts x G = 24, ~5400
    tokens; the demo's 16 x 8 is larger still) sample, and each prompt draws what it draws alone. (With a
    prefill split over steps, vLLM's CPU build failed: "CPU Generator does not use offset".)"""
    engine, cfg, prompts = engines["qwen2_vl"]
    model = fresh_policy(policy_factory, "qwen2_vl", seed=5)
    engine.synced_version = None
    engine.sync(model, 0)
    g = 24
    budget = engine.llm.llm_engine.vllm_config.scheduler_config.max_num_batched_tokens
    assert int(prompts.batch["attention_mask"].sum()) * g > budget
    together = engine.generate(prompts.batch, prompts.images, [11, 22, 33], g)
    last = engine.generate(_one_prompt(prompts, 2), prompts.images[2:], [33], g)
    assert rows_of(together)[2 * g:] == rows_of(last)


def rows_of(rollout) -> list[list[int]]:
    return [ids[m.bool()].tolist() for ids, m in zip(rollout.completion_ids, rollout.completion_mask)]


def _one_prompt(prompts, i: int) -> dict:
    from gpg_vl.processing import select_rows

    image_token = prompts.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    return select_rows(prompts.batch, [i], image_token)


def test_token_frequencies_follow_the_trainers_softmax(engines, policy_factory):
    """2000 first tokens at temperature 2 / top-p 0.8 vs the trainer's tempered, truncated softmax."""
    engine, cfg, prompts = engines["qwen2_vl"]
    model = fresh_policy(policy_factory, "qwen2_vl", seed=7)
    engine.synced_version = None
    engine.sync(model, 0)
    old = (engine.cfg.temperature, engine.cfg.top_p, engine.cfg.max_new_tokens)
    engine.cfg.temperature, engine.cfg.top_p, engine.cfg.max_new_tokens = 2.0, 0.8, 1
    try:
        one = _one_prompt(prompts, 0)
        n = 2000
        out = engine.generate(one, prompts.images[:1], None, n)  # unseeded: see engine.generate
    finally:
        engine.cfg.temperature, engine.cfg.top_p, engine.cfg.max_new_tokens = old
    counts = torch.bincount(out.completion_ids[:, 0], minlength=model.config.text_config.vocab_size).float()
    # the trainer's distribution, computed independently: full logits, temperature, nucleus
    from gpg_vl.models.forward import base_and_head, prefill

    trunk, head = base_and_head(model)
    with torch.no_grad():
        _, last, _ = prefill(trunk, one)
        logits = head(last[0]).float()  # [V]
        logits[engine.banned] = float("-inf")  # vision placeholders are never sampled (as in the hf engine)
        probs = torch.softmax(logits / 2.0, -1)  # [V]
    sorted_p, order = probs.sort(descending=True)
    keep = order[(sorted_p.cumsum(0) - sorted_p) < 0.8]
    truncated = torch.zeros_like(probs)
    truncated[keep] = probs[keep]
    truncated /= truncated.sum()
    assert counts[truncated == 0].sum() == 0  # nothing outside the nucleus is ever drawn
    expected = truncated * n
    sd = (n * truncated * (1 - truncated)).sqrt()
    big = expected > 20
    assert big.sum() >= 2
    assert ((counts[big] - expected[big]).abs() <= 4.5 * sd[big]).all(), (counts[big], expected[big])
    tv = 0.5 * (counts / n - truncated).abs().sum()
    assert tv < 0.08

