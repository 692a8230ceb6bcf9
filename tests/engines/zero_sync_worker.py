"""``gpg-vl train`` with rollout.engine=vllm that, after its last step, syncs the engine and
records what a test of the weight sync needs (for test_vllm_zero.py, launched under DeepSpeed).

Every sync is cut into chunks of SYNC_CHUNK_BYTES (environment) so that ZeRO-3 gathers the
weights a chunk at a time. Each rank writes into ``OUTPUT_DIR``:
- ``rank<r>-chunks.jsonl``: per chunk, its full-tensor bytes and, under ZeRO-3, the bytes of
  partitioned parameters materialised on this rank while the chunk is live;
- ``rank<r>-logprobs.json``: the engine's teacher-forced log-probs of a fixed completion after
  the first three training prompts, taken after the final sync (the trainer's final weights).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import gpg_vl.engines.vllm as vllm_engine
import gpg_vl.trainer.loop as loop
from gpg_vl.cli import main

CHUNK = int(os.environ["SYNC_CHUNK_BYTES"])
COMPLETION = "<answer> red </answer>"
RANK = int(os.environ.get("RANK", "0"))
OUT = Path(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("train.output_dir=")))
original_weights, original_export = vllm_engine.named_weights, loop.export_policy


def materialised_bytes(model) -> int:
    """Bytes of ZeRO-3-partitioned (non-persistent) parameters currently gathered on this rank."""
    from deepspeed.runtime.zero.partition_parameters import ZeroParamStatus

    return sum(p.ds_numel * p.element_size() for p in model.parameters()
               if hasattr(p, "ds_id") and not p.ds_persist and p.ds_status == ZeroParamStatus.AVAILABLE)


def named_weights(model, only_changing, chunk_bytes):
    zero3 = any(hasattr(p, "ds_id") for p in model.parameters())
    with open(OUT / f"rank{RANK}-chunks.jsonl", "a") as f:
        for chunk in original_weights(model, only_changing, chunk_bytes):
            f.write(json.dumps({"chunk_bytes": chunk_bytes, "tensors": len(chunk),
                                "bytes": sum(t.numel() * t.element_size() for _, t in chunk),
                                "largest": max(t.numel() * t.element_size() for _, t in chunk),
                                "gathered": materialised_bytes(model) if zero3 else None}) + "\n")
            yield chunk


def export_policy(run, out_dir, **kwargs):
    """Sync the engine to the final weights (collective under ZeRO-3), then record its log-probs."""
    from gpg_vl.data.dataset import load_samples
    from gpg_vl.processing import encode_prompts
    from gpg_vl.trainer.engine import prompt_images

    engine = run.model.vllm_engine
    engine.sync(run.model.policy, run.model.weights_version)
    samples = load_samples(run.cfg.data.train)[:3]
    batch = encode_prompts(run.model.processor, samples, **run.data.encode_kwargs)
    images = prompt_images(run.model.processor, run.data.encode_kwargs, samples)
    completion = run.model.processor.tokenizer(COMPLETION, add_special_tokens=False)["input_ids"]
    logprobs = engine.prompt_logprobs(batch, images, [completion] * len(samples))
    (OUT / f"rank{RANK}-logprobs.json").write_text(json.dumps({
        "completion": completion, "logprobs": [lp.tolist() for lp in logprobs],
        "weights_version": run.model.weights_version}))
    return original_export(run, out_dir, **kwargs)


vllm_engine.VllmEngine.sync_chunk_bytes = CHUNK
vllm_engine.named_weights = named_weights
loop.export_policy = export_policy
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
