"""Issue 5's run settings end to end with the tiny model: train.epochs (the step count, the LR
schedule, the logs and resuming follow it), data.max_prompt_length (checked before the weights
load), and a raw base-model prompt with a <think> prefill that rolls out and is scored."""
from __future__ import annotations

import json
import math

import pytest

from gpg_vl.config import Config, load_config
from gpg_vl.data.long_prompts import PromptTooLongError
from gpg_vl.trainer import loop, setup
from gpg_vl.trainer.loop import train
from gpg_vl.trainer.setup import build_run
from gpg_vl.trainer.step import train_step
from gpg_vl.verifiers import VERIFIERS

pytestmark = pytest.mark.slow
RAW = "{image}Question: {problem}\nAnswer: Let me think.\n"


@pytest.fixture(autouse=True)
def seen(monkeypatch):
    """Registers ``test_hash`` (every test's reward); returns the (prompts, completions) of every call."""
    calls = []

    def test_hash(prompts, completions, **columns):
        calls.append((list(prompts), list(completions)))
        return [float(sum(map(ord, c)) % 5) for c in completions]

    monkeypatch.setitem(VERIFIERS, "test_hash", test_hash)
    return calls


def cfg_of(tiny_dirs, synthetic_data, out, *overrides: str) -> Config:
    return load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={synthetic_data['train']}", "rollout.num_generations=2", "rollout.max_new_tokens=4",
        "rewards=[{name: test_hash}]", "train.prompts_per_step=2", "train.lr=1e-3", "train.lr_schedule=linear",
        "train.tensorboard=false", f"train.output_dir={out}", *overrides])


def test_epochs_set_the_steps_from_the_rows_loaded_and_the_schedule_follows(tiny_dirs, synthetic_data, tmp_path):
    run = build_run(cfg_of(tiny_dirs, synthetic_data, tmp_path, "data.limit=5", "train.steps=null",
                           "train.epochs=1.5"))
    assert len(run.data.train_samples) == 5
    assert run.total_steps == math.ceil(1.5 * 5 / 2) == 4
    lam = run.optim.scheduler.lr_lambdas[0]  # linear decay to 0 over the derived total
    assert lam(3) == pytest.approx(1 / 4) and lam(4) == 0.0


def test_epochs_count_the_rows_left_after_long_prompts_are_skipped(tiny_dirs, synthetic_data, tmp_path):
    """The synthetic rows differ only in their question; a limit between two lengths drops some."""
    from gpg_vl.models import load_processor
    from gpg_vl.processing import prompt_length

    cfg = cfg_of(tiny_dirs, synthetic_data, tmp_path, "train.steps=null", "train.epochs=1")
    processor = load_processor(str(tiny_dirs["qwen2_vl"]), 12544, 12544)
    everything = setup.load_data(cfg)[0]
    lengths = sorted(prompt_length(processor, s, [(112, 112)], **setup.prompt_kwargs(cfg)) for s in everything)
    limit = lengths[len(lengths) // 2]
    kept = sum(n <= limit for n in lengths)
    assert 0 < kept < len(lengths)
    run = build_run(cfg_of(tiny_dirs, synthetic_data, tmp_path, "train.steps=null", "train.epochs=1",
                           f"data.max_prompt_length={limit}"))
    assert len(run.data.train_samples) == kept and run.data.train_samples.long_prompts.skipped == len(lengths) - kept
    assert run.total_steps == math.ceil(kept / 2)


def test_a_long_prompt_error_comes_before_the_weights_load(tiny_dirs, synthetic_data, tmp_path, monkeypatch):
    def no_weights(*args, **kwargs):
        raise AssertionError("the weights loaded before the prompt check")

    monkeypatch.setattr(setup, "load_policy", no_weights)
    with pytest.raises(PromptTooLongError, match=r"train.jsonl, row 0 .*longer than max_prompt_length 20"):
        build_run(cfg_of(tiny_dirs, synthetic_data, tmp_path, "data.max_prompt_length=20",
                         "data.on_long_prompt=error"))


def test_epochs_run_logs_its_steps_and_resumes_to_the_same_total(
        tiny_dirs, synthetic_data, tmp_path, monkeypatch, seen):
    out = tmp_path / "run"
    args = ("data.limit=4", "train.steps=null", "train.epochs=1.5", "train.save_every=1")  # ceil(1.5*4/2) = 3
    real_step, calls = loop.train_step, []

    def crash_after_two(run):  # the run is stopped after two steps (two checkpoints written)
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real_step(run)

    monkeypatch.setattr(loop, "train_step", crash_after_two)
    logged = []
    with pytest.raises(KeyboardInterrupt):
        train(cfg_of(tiny_dirs, synthetic_data, out, *args), log=logged.append)
    assert any("3 steps = ceil(1.5 epochs x 4 rows / 2 prompts per step)" in line for line in logged)
    state = json.loads((out / "checkpoints" / "step-000002" / "gpg_vl_state.json").read_text())
    assert (state["total_steps"], state["train_rows"]) == (3, 4)

    monkeypatch.setattr(loop, "train_step", real_step)
    with pytest.raises(ValueError, match=r"changes the run \(data.limit: 4 -> 6\)"):
        train(cfg_of(tiny_dirs, synthetic_data, out, *args, "data.limit=6", "train.resume_from=auto"),
              log=lambda *_: None)
    with pytest.raises(ValueError, match="saved by a run of 3 steps .* resolves train.epochs=1.5 to 5 steps"):
        train(cfg_of(tiny_dirs, synthetic_data, out, *args, "data.limit=6", "train.resume_from=auto",
                     "train.allow_change=[data.limit]"), log=lambda *_: None)
    summary = train(cfg_of(tiny_dirs, synthetic_data, out, *args, "train.resume_from=auto"), log=lambda *_: None)
    assert summary["steps"] == 3 and len(summary["history"]) == 1  # only step 3 ran
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]


def test_raw_prompt_with_a_prefill_rolls_out_and_is_scored(tiny_dirs, synthetic_data, tmp_path, seen, monkeypatch):
    formats = []
    real_format = VERIFIERS["format"]

    def record_format(prompts, completions, **columns):
        formats.append(list(completions))
        return real_format.with_options(mode="think_prefilled")(prompts, completions, **columns)

    monkeypatch.setitem(VERIFIERS, "test_format", record_format)
    run = build_run(cfg_of(tiny_dirs, synthetic_data, tmp_path, "data.limit=2", "train.steps=1",
                           "data.prompt_format=raw", f"data.prompt_template={json.dumps(RAW)}",
                           "data.completion_prefix=<think>",
                           "rewards=[{name: test_hash}, {name: test_format}]"))
    metrics = train_step(run)
    prompts, completions = seen[0]
    assert len(completions) == 4 and formats == [completions]  # 2 prompts x G=2, both rewards
    assert all(p.startswith("<|vision_start|><|image_pad|><|vision_end|>Question: ") for p in prompts)
    assert all(not c.startswith("<think>") for c in completions)  # the prefill is prompt, not completion
    assert math.isfinite(metrics["reward"]) and 1 <= metrics["completion_len"] <= 4
    assert run.data.encode_kwargs["prompt_format"] == "raw" and run.data.encode_kwargs["completion_prefix"] == "<think>"
