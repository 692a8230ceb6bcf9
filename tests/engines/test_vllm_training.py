"""Training with rollout.engine=vllm: the step logs the sampler mismatch, TIS runs, and a run that
crashes after a checkpoint and resumes reaches the weights of an uninterrupted run.

Runs in the vLLM environment (scripts/test.sh runs tests/engines there); skipped without vLLM.
"""
from __future__ import annotations

import os

import pytest
import torch

from gpg_vl.config import Config, load_config
from gpg_vl.trainer.loop import train
from gpg_vl.verifiers import VERIFIERS

vllm = pytest.importorskip("vllm")
pytestmark = [pytest.mark.slow, pytest.mark.vllm]


class Crash(RuntimeError):
    pass


@pytest.fixture
def rewards(monkeypatch):
    """Registers ``test_len`` (varied rewards); returns a switch that makes the loop's train step
    crash on a given call."""
    import gpg_vl.trainer.loop as loop

    state = {"calls": 0, "crash_at": None}
    step = loop.train_step

    def crashing_step(run):
        state["calls"] += 1
        if state["crash_at"] is not None and state["calls"] >= state["crash_at"]:
            raise Crash("simulated crash")
        return step(run)

    monkeypatch.setattr(loop, "train_step", crashing_step)
    monkeypatch.setitem(VERIFIERS, "test_len", lambda prompts, completions, **_: [float(len(c) % 3) for c in completions])
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    return state


def config(tiny_dirs, synthetic_data, out, *extra: str) -> Config:
    return load_config(Config, None, config_args(tiny_dirs, synthetic_data, out, *extra))


def config_args(tiny_dirs, synthetic_data, out, *extra: str) -> list[str]:
    return [
        f"model.path={tiny_dirs['qwen2_vl']}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={synthetic_data['train']}", "rollout.num_generations=4", "rollout.max_new_tokens=6",
        "rollout.engine=vllm", "rollout.vllm.gpu_memory_utilization=0.1", "rollout.vllm.enforce_eager=true",
        "rollout.vllm.max_model_len=512", "rewards=[{name: test_len}]", "train.prompts_per_step=2",
        "train.lr=1e-2", "train.steps=4", "train.tensorboard=false", f"train.output_dir={out}", *extra]


def final(out) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / "final" / "model.safetensors"))


def test_crash_and_resume_with_vllm_reaches_the_uninterrupted_weights(tiny_dirs, synthetic_data, tmp_path,
                                                                      rewards):
    summary = train(config(tiny_dirs, synthetic_data, tmp_path / "full", "rollout.importance_correction=tis"),
                    log=lambda *_: None)
    assert summary["steps"] == 4
    lines = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    import json

    steps = [json.loads(line) for line in lines]
    logged = [s for s in steps if "mismatch/mean_abs_logprob" in s]
    assert logged, "the mismatch with vLLM's log-probs is logged every step"
    assert all(0 <= s["mismatch/mean_abs_logprob"] <= s["mismatch/max_abs_logprob"] < 0.5 for s in logged)
    assert all(0.5 < s["tis/mean_weight"] <= 2.0 for s in logged)

    killed = tmp_path / "killed"
    rewards.update(calls=0, crash_at=3)  # steps 1-2, a checkpoint, then a crash in step 3
    with pytest.raises(Crash):
        train(config(tiny_dirs, synthetic_data, killed, "rollout.importance_correction=tis", "train.save_every=2"),
              log=lambda *_: None)
    assert (killed / "checkpoints" / "step-000002").exists() and not (killed / "final").exists()
    rewards.update(crash_at=None)
    train(config(tiny_dirs, synthetic_data, killed, "rollout.importance_correction=tis", "train.save_every=2",
                 "train.resume_from=auto"), log=lambda *_: None)
    a, b = final(tmp_path / "full"), final(killed)
    start = final_start(tiny_dirs)
    assert any(not torch.equal(a[k], start[k]) for k in a)  # training moved the weights
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5


def final_start(tiny_dirs) -> dict:
    from safetensors.torch import load_file

    return load_file(str(tiny_dirs["qwen2_vl"] / "model.safetensors"))


def test_a_memory_fraction_that_cannot_fit_is_one_line_with_the_fraction_to_try(tiny_dirs, synthetic_data,
                                                                                 tmp_path):
    """``gpg-vl train`` with rollout.vllm.gpu_memory_utilization=0.001: vLLM's CPU build sizes its
    KV cache as that fraction of host memory minus what the process already holds (negative here)."""
    import subprocess
    import sys
    from pathlib import Path

    args = [a for a in config_args(tiny_dirs, synthetic_data, tmp_path / "run")
            if "gpu_memory_utilization" not in a and not a.startswith("rewards=")]
    args.append("rewards=[{name: 'gpg_vl.bench.workload:distinct_char_reward'}]")  # importable in a subprocess
    env = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"}  # the fraction decides
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "gpg_vl.cli", "train", *args, "train.steps=1",
                           "rollout.vllm.gpu_memory_utilization=0.001"], cwd=repo, capture_output=True, text=True,
                          timeout=600, env={**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)})
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("gpg-vl train: error: vLLM could not fit")
    assert "try rollout.vllm.gpu_memory_utilization=0.05" in last
    assert "Traceback" not in proc.stderr
