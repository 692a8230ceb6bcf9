"""rollout.engine=vllm under DeepSpeed ZeRO-2 and ZeRO-3, 2 processes (CPU, gloo): after k
optimizer steps, each rank's vLLM engine gives a fixed completion the log-probs of the trainer's
final weights, and under ZeRO-3 the sync gathers the weights a bounded chunk at a time.

The trainer's side is computed here, independently: the exported final weights in a fresh
Hugging Face model, one plain forward. Runs in the vLLM environment; skipped without vLLM.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("vllm")
pytest.importorskip("deepspeed")
pytestmark = [pytest.mark.slow, pytest.mark.vllm, pytest.mark.multiprocess]
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "distributed"))
from launch_helpers import pick_free_port, run_bounded  # noqa: E402  (bounded launch in its own session)
WORKER = Path(__file__).with_name("zero_sync_worker.py")
CHUNK = 1 << 20  # 1 MiB: the tiny model's 13 MiB of weights go over in ~14 chunks
STEPS = 2


def overrides(model, data, out) -> list[str]:
    return [f"model.path={model}", "model.min_pixels=12544", "model.max_pixels=12544", f"data.train={data}",
            "rollout.num_generations=4", "rollout.max_new_tokens=6", "rollout.engine=vllm",
            "rollout.vllm.gpu_memory_utilization=0.1", "rollout.vllm.enforce_eager=true",
            "rollout.vllm.max_model_len=512", "rewards=[{name: 'gpg_vl.bench.workload:distinct_char_reward'}]",
            "train.prompts_per_step=2", f"train.steps={STEPS}", "train.lr=1e-2", "train.tensorboard=false",
            f"train.output_dir={out}"]


def launch(stage: int, args: list[str], timeout: float = 540) -> None:
    """2 processes under ``configs/deepspeed/zero<stage>.json``; the whole session is killed on timeout."""
    port = pick_free_port()
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--use_deepspeed", "--deepspeed_config_file",
           str(REPO / "configs" / "deepspeed" / f"zero{stage}.json"), "--main_process_port", str(port),
           str(WORKER), "train", *args]
    run_bounded(cmd, timeout, env={"SYNC_CHUNK_BYTES": str(CHUNK), "PYTHONPATH": str(REPO),
                                   "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")})


def trainer_logprobs(model_dir: Path, data: Path, completion: list[int]) -> torch.Tensor:
    """[3, C]: log-probs of ``completion`` after the first three training prompts, from a plain
    forward of the model in ``model_dir``."""
    from gpg_vl.config import Config, load_config
    from gpg_vl.data.dataset import load_samples
    from gpg_vl.models import load_policy
    from gpg_vl.models.forward import grouped_completion_logprobs
    from gpg_vl.processing import encode_prompts
    from gpg_vl.trainer.setup import prompt_kwargs

    cfg = load_config(Config, None, overrides(model_dir, data, "unused"))
    model, processor, _ = load_policy(str(model_dir), min_pixels=12544, max_pixels=12544)
    batch = encode_prompts(processor, load_samples(str(data))[:3], **prompt_kwargs(cfg))
    ids = torch.tensor([completion] * 3)
    with torch.no_grad():
        return grouped_completion_logprobs(model.eval(), batch, torch.arange(3), ids, torch.ones_like(ids))


@pytest.mark.timeout(1200)
# ZeRO-3 (partitioned weights gathered in chunks) runs by default; ZeRO-2, whose sync reads full
# weights as DDP does, only under `scripts/test.sh --full`.
@pytest.mark.parametrize("stage", [pytest.param(2, marks=pytest.mark.full), 3])
def test_vllm_holds_the_trainers_weights_after_k_steps_under_zero(stage, tiny_dirs, synthetic_data, tmp_path):
    model, data, out = tiny_dirs["qwen2_vl"], synthetic_data["train"], tmp_path / "run"
    launch(stage, overrides(model, data, out))
    ranks = [json.loads((out / f"rank{r}-logprobs.json").read_text()) for r in (0, 1)]
    assert all(r["weights_version"] == STEPS for r in ranks)  # k optimizer steps were applied
    completion = ranks[0]["completion"]
    want = trainer_logprobs(out / "final", data, completion)  # [3, C]
    start = trainer_logprobs(model, data, completion)
    assert (want - start).abs().max() > 1e-2  # training moved what vLLM must reproduce
    for r in ranks:
        assert (torch.tensor(r["logprobs"]) - want).abs().max() < 1e-3
    chunks = [json.loads(line) for r in (0, 1) for line in (out / f"rank{r}-chunks.jsonl").read_text().splitlines()]
    # every sync went over in chunks within the bound (or one weight larger than it)
    assert len(chunks) > STEPS * 2 * 3
    assert all(c["bytes"] <= max(CHUNK, c["largest"]) for c in chunks)
    if stage == 3:  # ZeRO-3: partitioned weights were gathered, never more than one chunk at a time
        assert max(c["gathered"] for c in chunks) > 0
        assert all(c["gathered"] <= c["bytes"] for c in chunks)
