"""Launch helpers for the multi-process tests (bounded subprocesses, short GPG runs)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REWARD = Path(__file__).with_name("varied_reward.py")


def run_bounded(cmd: list[str], timeout: float = 420, env: dict | None = None) -> str:
    """Run ``cmd`` in a new session; kill the session on timeout; return combined output."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"timed out after {timeout}s: {' '.join(cmd)}\n{out[-4000:]}")
    if proc.returncode != 0:
        pytest.fail(f"exit {proc.returncode}: {' '.join(cmd)}\n{out[-6000:]}")
    return out


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher's process group and the group of every process below it, as a crash
    of the machine would. Killing the launcher's group alone is not enough under torchrun/accelerate:
    torch elastic starts each worker in a session of its own, so the workers would survive as
    orphans and go on training (and checkpointing) into the folder the resume then reads."""
    import psutil

    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for pgid in {proc.pid, *(os.getpgid(p.pid) for p in tree if p.is_running())}:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.communicate()
    _, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, f"processes survived SIGKILL: {alive}"


def pick_free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_args(model_dir: Path, train_jsonl: Path, out: Path, steps: int, *extra: str) -> list[str]:
    """Overrides for a short GPG run on the synthetic data with a text-varying reward."""
    return ["--config", str(REPO / "configs" / "demo.yaml"),
            f"model.path={model_dir}", f"data.train={train_jsonl}", "data.test=null",
            f"train.output_dir={out}", f"train.steps={steps}", "warmup.steps=0",
            "train.prompts_per_step=4", "rollout.num_generations=4", "rollout.max_new_tokens=6",
            "train.lr=1e-3", "train.tensorboard=false", "train.log_every=100",
            # Pinned here, not inherited from the demo: with beta_th each rank keeps its own valid
            # groups first, so 1 and 2 processes may keep different groups (by design).
            "algorithm.beta_th=null", "algorithm.aggregation=token-mean", "train.lr_schedule=constant",
            "train.warmup_steps=0",  # a few steps: the demo's warm-up would leave them at a tiny rate
            f"rewards=[{{name: '{REWARD}:text_length_reward', weight: 1.0}}]", *extra]


def final_weights(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / "final" / "model.safetensors"))


def max_diff(a: dict, b: dict) -> float:
    assert sorted(a) == sorted(b), "the exports hold different tensors"
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)
