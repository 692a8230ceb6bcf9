"""End-to-end GPG steps of the tiny model on the synthetic tasks (build_run + train_step).

The reward is a test verifier that is constant on classification rows (those groups are
degenerate) and a hash of the completion elsewhere (those groups vary), so a step's valid
fraction and alpha can be worked out from the rewards the verifier handed back.
"""
from __future__ import annotations

import math

import pytest
import torch

from gpg_vl.config import Config, load_config
from gpg_vl.trainer.setup import build_run, frozen_reference
from gpg_vl.trainer.step import collect, train_step
from gpg_vl.verifiers import VERIFIERS

pytestmark = pytest.mark.slow
G = 4


@pytest.fixture
def scored(monkeypatch):
    """Registers ``test_hash`` and ``test_const``; returns the rewards each call handed back."""
    log: list[list[float]] = []

    def test_hash(prompts, completions, task, **columns):
        values = [1.0 if t == "classification" else float(sum(map(ord, c)) % 5)
                  for c, t in zip(completions, task)]
        log.append(values)
        return values

    def test_const(prompts, completions, **columns):
        log.append([1.0] * len(completions))
        return [1.0] * len(completions)

    monkeypatch.setitem(VERIFIERS, "test_hash", test_hash)
    monkeypatch.setitem(VERIFIERS, "test_const", test_const)
    return log


def config(tiny_dirs, synthetic_data, tmp_path, *overrides: str) -> Config:
    """Three prompts (the first three rows: one per task) x G=4, 4 new tokens, no warm-up."""
    return load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={synthetic_data['train']}", "data.limit=3",
        f"rollout.num_generations={G}", "rollout.max_new_tokens=4",
        "rewards=[{name: test_hash}]", "warmup.steps=0",
        "train.prompts_per_step=3", "train.micro_batch_size=5", "train.steps=2", "train.lr=1e-3",
        "train.tensorboard=false", f"train.output_dir={tmp_path / 'run'}", *overrides])


def snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def valid_fraction_of(rewards: list[float], g: int) -> float:
    groups = [rewards[i:i + g] for i in range(0, len(rewards), g)]
    return sum(g for grp in groups if len(set(grp)) > 1) / len(rewards)


def test_gpg_step_updates_the_policy_and_logs_alpha(tiny_dirs, synthetic_data, tmp_path, scored):
    run = build_run(config(tiny_dirs, synthetic_data, tmp_path))
    assert run.model.reference is None  # GPG loads no reference model
    assert len(run.data.train_samples) == 3
    before = snapshot(run.model.policy)
    m = train_step(run)

    assert len(scored) == 1 and len(scored[0]) == 3 * G  # one draw, all rows scored at once
    expected_vf = valid_fraction_of(scored[0], G)
    assert 0 < expected_vf < 1, "the test wants degenerate and varying groups in one batch"
    assert m["valid_fraction"] == pytest.approx(expected_vf)
    b = 3 * G
    m_deg = round((1 - m["valid_fraction"]) * b)
    assert m["alpha"] == pytest.approx(b / (b - m_deg))  # alpha = B / (B - M)
    assert m["reward"] == pytest.approx(sum(scored[0]) / b)
    assert m["reward/test_hash"] == pytest.approx(sum(scored[0]) / b)
    assert m["skipped"] == 0 and m["skipped_steps"] == 0 and m["draws"] == 1
    assert math.isfinite(m["loss"]) and m["loss"] != 0
    assert math.isfinite(m["grad_norm"]) and m["grad_norm"] > 0
    assert 1 <= m["completion_len"] <= 4
    after = snapshot(run.model.policy)
    changed = [n for n in before if not torch.equal(before[n], after[n])]
    assert "lm_head.weight" in changed
    assert any(n.startswith("model.visual.") for n in changed)  # the vision tower trains too


def test_step_where_every_group_is_degenerate_is_skipped(tiny_dirs, synthetic_data, tmp_path, scored):
    run = build_run(config(tiny_dirs, synthetic_data, tmp_path, "rewards=[{name: test_const}]"))
    before = snapshot(run.model.policy)
    m1 = train_step(run)
    assert m1["skipped"] == 1 and m1["skipped_steps"] == 1 and run.counters["skipped_steps"] == 1
    assert m1["valid_fraction"] == 0.0 and m1["alpha"] == 1.0 and m1["loss"] == 0.0
    m2 = train_step(run)
    assert m2["skipped_steps"] == 2
    after = snapshot(run.model.policy)
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert all(p.grad is None for p in run.model.policy.parameters())


def test_lr_schedule_advances_on_skipped_steps(tiny_dirs, synthetic_data, tmp_path, scored):
    """The schedule follows the training step, taken or skipped: with a linear decay over 2 steps
    the learning rate after a skipped step 1 is half the peak (it stayed at the peak before)."""
    run = build_run(config(tiny_dirs, synthetic_data, tmp_path, "rewards=[{name: test_const}]",
                           "train.lr_schedule=linear"))
    m = train_step(run)
    assert m["skipped"] == 1 and m["lr"] == pytest.approx(0.5e-3)
    assert run.optim.optimizer.param_groups[0]["lr"] == pytest.approx(0.5e-3)


def test_beta_th_draws_again_when_too_few_groups_vary(tiny_dirs, synthetic_data, tmp_path, scored):
    run = build_run(config(tiny_dirs, synthetic_data, tmp_path, "rewards=[{name: test_const}]",
                           "algorithm.beta_th=0.5", "algorithm.max_draws=3"))
    m = train_step(run)
    assert m["draws"] == 3 and len(scored) == 3  # never valid: every allowed draw is made
    assert run.data.sampler.position == 3 * 3
    assert m["skipped"] == 1


def test_beta_th_keeps_varying_groups_from_later_draws_first(tiny_dirs, synthetic_data, tmp_path, scored):
    run = build_run(config(tiny_dirs, synthetic_data, tmp_path, "algorithm.beta_th=1.0", "algorithm.max_draws=2"))
    pieces, draws = collect(run.cfg, run.accelerator, run.model, run.data, run.reward_model, run.counters)
    assert draws == 2 and len(scored) == 2  # the first draw had a degenerate (classification) group
    varying = [[p for p in range(3) if len(set(scored[d][p * G:(p + 1) * G])) > 1] for d in range(2)]
    assert len(varying[0]) < 3 and len(varying[0]) + len(varying[1]) >= 3
    # Varying groups first, earlier draws first, cut at prompts_per_step = 3.
    wanted = ([(0, p) for p in varying[0]] + [(1, p) for p in varying[1]])[:3]
    by_draw = [[p for d, p in wanted if d == k] for k in range(2)]
    assert [piece.prompts for piece in pieces] == [ps for ps in by_draw if ps]
    for piece, d in zip(pieces, [k for k in range(2) if by_draw[k]]):
        assert piece.rewards.shape == (len(piece.prompts) * G,)
        expected = [v for p in piece.prompts for v in scored[d][p * G:(p + 1) * G]]
        assert piece.rewards.tolist() == expected
    m = train_step(run)  # the step built on such a batch: every kept group varies
    assert m["draws"] == 2 and m["valid_fraction"] == 1.0 and m["alpha"] == 1.0


def test_grpo_baseline_loads_a_frozen_reference_and_steps(tiny_dirs, synthetic_data, tmp_path, scored):
    run = build_run(config(tiny_dirs, synthetic_data, tmp_path, "algorithm.name=grpo"))
    run.model.reference = frozen_reference(run)
    assert run.model.reference is not None and run.model.reference is not run.model.policy
    assert not any(p.requires_grad for p in run.model.reference.parameters())
    ref_before = snapshot(run.model.reference)
    m = train_step(run)
    assert math.isfinite(m["loss"]) and m["skipped"] == 0
    assert m["alpha"] == 1.0  # alpha is GPG's: off for GRPO unless algorithm.use_alpha is set
    assert all(torch.equal(ref_before[n], p) for n, p in run.model.reference.named_parameters())


def test_grpo_reference_is_the_policy_after_the_warm_up(tiny_dirs, synthetic_data, tmp_path, scored):
    """GRPO's KL is to the policy RL starts from: after the warm-up, so it is 0 at the first RL
    step (a reference loaded from model.path, before the warm-up, gave 0.23-0.68)."""
    from safetensors.torch import load_file

    from gpg_vl.trainer.loop import start

    run = build_run(config(tiny_dirs, synthetic_data, tmp_path, "algorithm.name=grpo", "warmup.steps=2",
                           "warmup.lr=1e-2", "warmup.batch_size=3", "data.test=null"))
    start(run, log=lambda *_: None, ckpt=None)
    folder = load_file(str(tiny_dirs["qwen2_vl"] / "model.safetensors"))
    policy, reference = snapshot(run.model.policy), snapshot(run.model.reference)
    assert all(torch.equal(policy[n], reference[n]) for n in policy)
    assert max((policy[n] - folder[n]).abs().max().item() for n in folder if n in policy) > 1e-3  # warm-up moved it
    m = train_step(run)
    assert m["skipped"] == 0 and m["kl"] == pytest.approx(0.0, abs=1e-7)


def test_micro_batch_size_does_not_change_the_update(tiny_dirs, synthetic_data, tmp_path, scored):
    """Gradients accumulated over micro-batches equal one big batch's (the loss is a global sum)."""
    weights, metrics = [], []
    for size in (1, 12):
        run = build_run(config(tiny_dirs, synthetic_data, tmp_path, f"train.micro_batch_size={size}"))
        metrics.append(train_step(run))  # same seed: same completions and rewards in both runs
        weights.append(snapshot(run.model.policy))
    assert scored[0] == scored[1]
    assert metrics[0]["skipped"] == metrics[1]["skipped"] == 0
    # The loss is a sum of per-row terms of ~0.1 whose centred advantages cancel to ~1e-5, so it
    # agrees to float32 rounding of the terms (absolute), not relative to the small total.
    assert metrics[0]["loss"] == pytest.approx(metrics[1]["loss"], abs=1e-6)
    assert metrics[0]["grad_norm"] == pytest.approx(metrics[1]["grad_norm"], rel=1e-4)  # before clipping
    # Adam's first step is about lr * sign(grad) (and blind to a gradient's scale, which the
    # grad_norm check covers): rounding in near-zero gradients moves a few weights by up to
    # ~1e-4, a gradient of the wrong sign by 2 * lr = 2e-3.
    for name in weights[0]:
        torch.testing.assert_close(weights[0][name], weights[1][name], atol=5e-4, rtol=0)


def test_freeze_vision_keeps_the_vision_tower(tiny_dirs, synthetic_data, tmp_path, scored):
    run = build_run(config(tiny_dirs, synthetic_data, tmp_path, "model.freeze_vision=true"))
    assert run.model.reuse_image_features  # a frozen tower: the update reuses sampling's image features
    before = snapshot(run.model.policy)
    assert train_step(run)["skipped"] == 0
    after = snapshot(run.model.policy)
    visual = [n for n in before if n.startswith("model.visual.")]
    assert visual and all(torch.equal(before[n], after[n]) for n in visual)
    assert not torch.equal(before["lm_head.weight"], after["lm_head.weight"])


def test_reused_image_features_leave_the_step_unchanged(tiny_dirs, synthetic_data, tmp_path, scored):
    """Frozen vision tower (freeze_vision; LoRA without the vision tower likewise): a step that
    reuses sampling's image features reaches the weights of one that encodes the images again.
    Micro-batches of 1 row make the update pick images per micro-batch (select_rows)."""
    weights, metrics = [], []
    for reuse in (True, False):
        run = build_run(config(tiny_dirs, synthetic_data, tmp_path, "model.freeze_vision=true",
                               "train.micro_batch_size=1"))
        run.model.reuse_image_features = reuse
        metrics.append(train_step(run))
        weights.append(snapshot(run.model.policy))
    assert scored[0] == scored[1] and metrics[0]["skipped"] == 0
    assert metrics[0]["loss"] == pytest.approx(metrics[1]["loss"], abs=1e-6)
    assert metrics[0]["grad_norm"] == pytest.approx(metrics[1]["grad_norm"], rel=1e-5)
    for name in weights[0]:
        torch.testing.assert_close(weights[0][name], weights[1][name], atol=1e-6, rtol=0)
    full = build_run(config(tiny_dirs, synthetic_data, tmp_path))
    lora = build_run(config(tiny_dirs, synthetic_data, tmp_path, "model.lora.enabled=true", "model.lora.r=4"))
    assert not full.model.reuse_image_features and lora.model.reuse_image_features  # trained tower: encode again
