"""A short GPG run improves the reward, and its export reloads, for every family in ``gpg_vl.families``.

The reward is the share of a completion's characters that are digits (a test verifier): the
tiny random policy starts near the digits' share of its vocabulary, and GPG steps must raise it.
The run is the user's path: build_run + train_step (sampling with the shared prefix, the grouped
update with the vision tower training, AdamW).
"""
from __future__ import annotations

import pytest
import torch

from gpg_vl.config import Config, load_config
from gpg_vl.families import FAMILIES
from gpg_vl.models import load_policy
from gpg_vl.processing import encode_prompts
from gpg_vl.trainer.checkpoint import export_policy
from gpg_vl.trainer.setup import build_run
from gpg_vl.trainer.step import train_step
from gpg_vl.verifiers import VERIFIERS

pytestmark = pytest.mark.slow
STEPS = 6


@pytest.fixture
def digit_reward(monkeypatch):
    def test_digits(prompts, completions, **columns):
        return [sum(ch.isdigit() for ch in c) / max(1, len(c)) for c in completions]

    monkeypatch.setitem(VERIFIERS, "test_digits", test_digits)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_short_gpg_run_raises_the_reward(tiny_dirs, synthetic_data, tmp_path, digit_reward, family):
    cfg = load_config(Config, None, [
        f"model.path={tiny_dirs[family]}", f"data.train={synthetic_data['train']}", "data.limit=3",
        "rollout.num_generations=8", "rollout.max_new_tokens=4", "rewards=[{name: test_digits}]",
        "warmup.steps=0", "train.prompts_per_step=3", "train.micro_batch_size=24", f"train.steps={STEPS}",
        "train.lr=2e-3", "train.tensorboard=false", f"train.output_dir={tmp_path / 'run'}"])
    run = build_run(cfg)
    rewards = [train_step(run)["reward"] for _ in range(STEPS)]
    print(family, [round(r, 3) for r in rewards])
    assert sum(rewards[-2:]) / 2 > sum(rewards[:2]) / 2 + 0.1, rewards

    # The export loads as the family's release does and computes what the trained policy computes.
    export_policy(run, tmp_path / "final")
    loaded, _, fam = load_policy(str(tmp_path / "final"))
    assert fam.name == family and type(loaded) is type(run.model.policy)
    batch = encode_prompts(run.model.processor, run.data.train_samples[:2], **run.data.encode_kwargs)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(**batch).logits, run.model.policy.eval()(**batch).logits)
