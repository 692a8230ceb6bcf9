"""train.vision_lr: the vision tower (patch embed, blocks, merger) trains at its own peak rate.

AdamW's first step moves every weight with a non-zero gradient by its group's rate times
g / (|g| + eps), i.e. by almost exactly the rate; so one step on random gradients shows which
rate each weight got, computed here from the named modules, not from the optimizer's groups."""
from __future__ import annotations

import json

import pytest
import torch

from gpg_vl.config import Config, load_config
from gpg_vl.errors import ConfigError
from gpg_vl.trainer.setup import build_run

pytestmark = pytest.mark.slow  # tiny runs built: ~15 s
LR, VISION_LR = 1e-4, 3e-3


def build(tiny_dirs, synthetic_data, tmp_path, *extra):
    return build_run(load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", f"data.train={synthetic_data['train']}", "data.limit=3",
        "rewards=[{name: format}]", "warmup.steps=0", "train.steps=1", f"train.lr={LR}",
        "train.tensorboard=false", f"train.output_dir={tmp_path / 'run'}", *extra]))


def one_step_moves(run) -> dict[str, float]:
    """Mean |change| of each parameter after one optimizer step on random gradients (float32 view)."""
    gen = torch.Generator().manual_seed(0)
    named = [(n, p) for n, p in run.model.policy.named_parameters() if p.requires_grad]
    start = {n: p.detach().float().clone() for n, p in named}
    for _, p in named:
        p.grad = torch.randn(p.shape, generator=gen).to(p.dtype)
    run.optim.optimizer.step()
    inner = getattr(run.optim.optimizer, "optimizer", run.optim.optimizer)
    masters = getattr(inner, "masters", {})
    return {n: float(((masters[p] if p in masters else p.detach().float()) - start[n]).abs().mean()) for n, p in named}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])  # bfloat16: the float32 masters' groups
def test_vision_tower_steps_at_its_own_rate(tiny_dirs, synthetic_data, tmp_path, dtype):
    run = build(tiny_dirs, synthetic_data, tmp_path, f"train.vision_lr={VISION_LR}", f"model.dtype={dtype}")
    moves = one_step_moves(run)
    vision = {n: m for n, m in moves.items() if n.startswith("model.visual.")}
    language = {n: m for n, m in moves.items() if not n.startswith("model.visual.")}
    assert vision and language
    for n, m in vision.items():
        assert m == pytest.approx(VISION_LR, rel=1e-2), n
    for n, m in language.items():
        assert m == pytest.approx(LR, rel=1e-2), n


def test_without_vision_lr_every_weight_steps_at_train_lr(tiny_dirs, synthetic_data, tmp_path):
    moves = one_step_moves(build(tiny_dirs, synthetic_data, tmp_path))
    assert any(n.startswith("model.visual.") for n in moves)
    for n, m in moves.items():
        assert m == pytest.approx(LR, rel=1e-2), n


def test_frozen_vision_tower_stays_frozen_with_vision_lr(tiny_dirs, synthetic_data, tmp_path):
    run = build(tiny_dirs, synthetic_data, tmp_path, f"train.vision_lr={VISION_LR}", "model.freeze_vision=true")
    moves = one_step_moves(run)
    assert moves and not any(n.startswith("model.visual.") for n in moves)
    assert all(m == pytest.approx(LR, rel=1e-2) for m in moves.values())


@pytest.mark.parametrize("value", ["0", "-1e-4", "inf"])
def test_bad_vision_lr_names_the_key(value):
    with pytest.raises(ConfigError, match="train.vision_lr"):
        load_config(Config, None, [f"train.vision_lr={value}"])


def test_start_block_states_the_vision_rate(tiny_dirs, synthetic_data, tmp_path):
    from gpg_vl.trainer.report import start_block

    counts = {"train_rows": 3, "skipped_bad_images": 0, "skipped_long_prompts": 0}
    lines = start_block(build(tiny_dirs, synthetic_data, tmp_path, f"train.vision_lr={VISION_LR}"), counts, "1")
    assert f"lr         {LR:g}, vision tower {VISION_LR:g} (" in lines
    lines = start_block(build(tiny_dirs, synthetic_data, tmp_path), counts, "1")
    assert "vision tower" not in lines.split("lr  ")[1].splitlines()[0]


def test_resume_runs_on_the_configured_rates_and_refuses_to_split_or_merge_groups(
        tiny_dirs, synthetic_data, tmp_path, monkeypatch):
    """torch restores the saved rates with the optimizer state: a resume allowed to change
    train.lr / train.vision_lr must still step at the new ones (read back from the resumed
    run's own checkpoint and log)."""
    import torch
    from test_output_dir import cfg_of  # the resume tests' short run (its train.lr is overridden below)

    from gpg_vl.trainer import loop
    from gpg_vl.trainer.output_dir import OutputDirError
    from gpg_vl.verifiers import VERIFIERS

    monkeypatch.setitem(VERIFIERS, "test_len", lambda prompts, completions, **_: [
        float(len(c) % 3) for c in completions])
    out = tmp_path / "run"

    def cfg(*extra):
        return cfg_of(tiny_dirs, synthetic_data, out, *extra)

    loop.train(cfg("train.steps=1", "train.lr=1e-3", "train.vision_lr=1e-2"), log=lambda *_: None)
    with pytest.raises(OutputDirError, match="train.vision_lr 0.01 -> None"):
        loop.train(cfg("train.steps=2", "train.resume_from=auto", "train.lr=1e-3", "train.vision_lr=null",
                       "train.allow_change=[train.vision_lr]"), log=lambda *_: None)
    loop.train(cfg("train.steps=2", "train.resume_from=auto", "train.lr=4e-3", "train.vision_lr=2e-2",
                   "train.allow_change=[train.lr, train.vision_lr]"), log=lambda *_: None)
    logged = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["lr"]) for r in logged] == [(1, 1e-3), (2, 4e-3)]
    saved = torch.load(out / "checkpoints" / "step-000002" / "trainer_state" / "optimizer.bin", weights_only=False)
    assert [(g["lr"], g["initial_lr"]) for g in saved["param_groups"]] == [(4e-3, 4e-3), (2e-2, 2e-2)]
