"""The run stops cleanly on non-finite weights and after too many steps without an update."""
from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import pytest
import torch

from gpg_vl.config import Config, load_config
from gpg_vl.trainer import loop
from gpg_vl.trainer.checkpoint import complete_checkpoints, verify_checkpoint
from gpg_vl.trainer.health import TrainingStopped, check_progress, check_weights
from gpg_vl.verifiers import VERIFIERS


def fake_run(model=None, limit=3):
    cfg = SimpleNamespace(train=SimpleNamespace(max_no_update_steps=limit, output_dir="out"),
                          rollout=SimpleNamespace(num_generations=4))
    return SimpleNamespace(model=SimpleNamespace(policy=model), cfg=cfg, counters={},
                           accelerator=SimpleNamespace(num_processes=1, device="cpu"))


def test_nonfinite_weights_stop_naming_the_parameter():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    run = fake_run(model)
    check_weights(run, 1)  # finite: nothing happens
    with torch.no_grad():
        model[1].bias[0] = float("inf")
    with pytest.raises(TrainingStopped, match=r"step 7: the weights became non-finite .*first: 1.bias"):
        check_weights(run, 7)
    model[1].bias.requires_grad_(False)  # frozen weights are not the update's doing
    check_weights(run, 8)


def test_steps_without_an_update_warn_then_stop():
    run = fake_run(limit=3)
    degenerate = {"skipped": 1, "valid_fraction": 0.0}
    with pytest.warns(RuntimeWarning, match="no update: every group was degenerate"):
        check_progress(run, 1, degenerate)
    check_progress(run, 2, {"skipped": 0})  # an update resets the count
    check_progress(run, 3, {"skipped": 1, "nonfinite": 1})  # non-finite steps have their own limit
    with pytest.warns(RuntimeWarning, match="step 4: no update"):  # a new streak warns once
        check_progress(run, 4, degenerate)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not again within the streak: the console would flood
        check_progress(run, 5, degenerate)
        with pytest.raises(TrainingStopped, match="3 consecutive steps made no update"):
            check_progress(run, 6, degenerate)


@pytest.mark.slow
def test_a_run_whose_weights_blow_up_stops_with_the_last_good_checkpoint(
        tiny_dirs, synthetic_data, tmp_path, monkeypatch):
    monkeypatch.setitem(VERIFIERS, "test_len", lambda prompts, completions, **_: [
        float(len(c) % 3) for c in completions])
    real_step = loop.train_step

    def blow_up_at_step_2(run):
        metrics = real_step(run)
        if run.counters.setdefault("calls", 0) == 1:
            with torch.no_grad():
                run.model.policy.lm_head.weight[0, 0] = float("nan")
        run.counters["calls"] += 1
        return metrics

    monkeypatch.setattr(loop, "train_step", blow_up_at_step_2)
    out = tmp_path / "run"
    cfg = load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={synthetic_data['train']}", "rollout.num_generations=2", "rollout.max_new_tokens=3",
        "rewards=[{name: test_len}]", "train.prompts_per_step=2", "train.tensorboard=false",
        f"train.output_dir={out}", "train.steps=3", "train.save_every=1"])
    with pytest.raises(TrainingStopped, match="step 2: the weights became non-finite .*lm_head.weight"):
        loop.train(cfg, log=lambda *_: None)
    ckpts = complete_checkpoints(out / "checkpoints")
    assert [p.name for p in ckpts] == ["step-000001"] and verify_checkpoint(ckpts[0]) is None
    assert not (out / "final").exists()
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]
