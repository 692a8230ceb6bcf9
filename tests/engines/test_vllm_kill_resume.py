"""rollout.engine=vllm, 2 processes (CPU DDP over gloo, one colocated engine per rank): a run
SIGKILLed after its step-2 checkpoint and resumed with train.resume_from=auto ends on the weights
of the uninterrupted run. The resumed run starts fresh engines from model.path; their first sync
must bring them to the checkpoint's weights, or the resumed steps sample differently.

Runs in the vLLM environment; skipped without vLLM.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_vllm_processes import args

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distributed"))
from launch_helpers import kill_tree  # noqa: E402

pytest.importorskip("vllm")
pytest.importorskip("psutil")  # kill_tree (launch_helpers) walks the process tree with it
# The 1-process vllm crash-and-resume test (test_vllm_training.py) and the 2-process hf kill-and-
# resume test run by default; this 2-process vllm one under `scripts/test.sh --full`.
pytestmark = [pytest.mark.slow, pytest.mark.vllm, pytest.mark.multiprocess, pytest.mark.full]
REPO = Path(__file__).resolve().parents[2]
STEPS = 6


def command(model, data, out, *extra: str) -> list[str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_args = [a for a in args(model, data, out) if not a.startswith("train.steps=")]
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
            str(REPO / "configs" / "accelerate" / "cpu_ddp.yaml"), "--num_processes", "2", "--main_process_port",
            str(port), "-m", "gpg_vl.cli", "train", *run_args, f"train.steps={STEPS}", "train.save_every=2",
            "train.keep_last=2", *extra]


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
            "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}


def start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def finish(cmd: list[str], timeout: float = 420) -> str:
    proc = start(cmd)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        pytest.fail(f"timed out after {timeout} s: {' '.join(cmd)}")
    assert proc.returncode == 0, out[-6000:]
    return out


@pytest.mark.timeout(1500)
def test_two_process_vllm_run_killed_and_resumed_matches_uninterrupted(tiny_dirs, synthetic_data, tmp_path):
    from safetensors.torch import load_file

    model, data = tiny_dirs["qwen2_vl"], synthetic_data["train"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    finish(command(model, data, full))
    proc = start(command(model, data, killed))
    deadline = time.time() + 420
    try:
        while not (killed / "checkpoints" / "step-000002").exists():
            assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before its first checkpoint"
            assert time.time() < deadline, "no checkpoint within the time limit"
            time.sleep(0.02)
    finally:
        kill_tree(proc)
    if (killed / "final").exists():
        pytest.skip("the run finished before the kill landed")
    log = finish(command(model, data, killed, "train.resume_from=auto"))
    assert "resumed from" in log
    a, b = load_file(str(full / "final" / "model.safetensors")), load_file(str(killed / "final" / "model.safetensors"))
    start_w = load_file(str(model / "model.safetensors"))
    assert max((a[k] - start_w[k]).abs().max().item() for k in a) > 1e-2  # training moved the weights
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
