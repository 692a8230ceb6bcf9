"""One-GPU check at real sizes (scripts/gpu_check.sh): rollout tokens/s, update MFU and peak memory
of gpg-vl (hf and vllm engines) and of TRL's GRPOTrainer (HF generate and colocated vLLM).

The models are random-initialised with the architectures of the releases, written here from
their config.json (Qwen/Qwen2-VL-2B-Instruct, Qwen/Qwen2.5-VL-7B-Instruct; no hub needed),
around the local tiny tokenizer (its special-token ids are the ones the configs name; the
vocabulary, and so the LM head, keeps the releases' size). bf16, 512-token completions. Every
side runs in its own process (``bench.runner.run_side``), one step after one warm-up step.

``--scale tiny`` runs the same path with the demo model's sizes: a CPU dry run of the script.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

# The releases' config.json values that set the cost (hidden sizes, depths, heads, vocabulary).
REAL = {
    "qwen2_vl_2b": dict(family="qwen2_vl", vocab=151936, tie=True,
                        text=dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                                  num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768),
                        vision=dict(depth=32, embed_dim=1280, num_heads=16, mlp_ratio=4)),
    "qwen2_5_vl_7b": dict(family="qwen2_5_vl", vocab=152064, tie=False,
                          text=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                                    num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=32768),
                          vision=dict(depth=32, embed_dim=1280, num_heads=16, mlp_ratio=2),
                          vision_extra=dict(intermediate_size=3420, fullatt_block_indexes=[7, 15, 23, 31])),
}
PEAK_TFLOPS = float(os.environ.get("GPG_VL_PEAK_TFLOPS", "989"))  # H100/H200 dense bf16


def build_model(name: str, spec: dict, out: Path, scale: str) -> tuple[Path, int]:
    """Save a random-initialised model of ``spec``'s architecture (bf16) with the tiny processor."""
    import torch
    from transformers import AutoModelForImageTextToText

    from gpg_vl.data.synthetic import tokenizer_corpus
    from gpg_vl.models.tiny import build_processor, tiny_config, train_tokenizer

    folder = out / f"{name}-{scale}"
    if (folder / "config.json").exists():
        return folder, json.loads((folder / "gpg_vl_params.json").read_text())["parameters"]
    tokenizer = train_tokenizer(list(tokenizer_corpus()))
    text, vision = (spec["text"], spec["vision"]) if scale == "real" else ({}, {})
    config = tiny_config(spec["family"], tokenizer, text, vision)
    if scale == "real":
        config.text_config.vocab_size = spec["vocab"]
        config.tie_word_embeddings = config.text_config.tie_word_embeddings = spec["tie"]
        for key, value in spec.get("vision_extra", {}).items():
            setattr(config.vision_config, key, value)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder, safe_serialization=True)
    build_processor(spec["family"], tokenizer, 56 * 56, 448 * 448).save_pretrained(folder)
    n = sum(p.numel() for p in model.parameters())
    (folder / "gpg_vl_params.json").write_text(json.dumps({"parameters": n}))
    del model
    return folder, n


def figures(raw: dict, n_params: int, warmup: int) -> dict:
    """Rollout tokens/s, update MFU (6 N tokens / time / peak) and peak memory of one side's result."""
    if "error" in raw:
        return {"error": raw["error"]}
    steps = raw["steps"][warmup:] or raw["steps"]
    gen = sum(s["gen_seconds"] for s in steps)
    upd = sum(s["update_seconds"] for s in steps)
    completion = sum(s["completion_tokens"] for s in steps)
    update_tokens = sum(s.get("update_prompt_tokens", 0) + s["completion_tokens"] for s in steps)
    return {"rollout_tokens_per_s": completion / gen if gen else None,
            "update_mfu": 6 * n_params * update_tokens / upd / (PEAK_TFLOPS * 1e12) if upd else None,
            "peak_gpu_mb": raw.get("peak_gpu_mb"), "peak_rss_mb": raw.get("peak_rss_mb"),
            "gen_seconds": gen, "update_seconds": upd}


def main(argv: list[str] | None = None) -> int:
    from gpg_vl.bench.runner import run_side
    from gpg_vl.bench.workload import Workload, write_data

    p = argparse.ArgumentParser(prog="gpu_check")
    p.add_argument("--out", default="runs/gpu_check")
    p.add_argument("--scale", choices=["real", "tiny"], default="real")
    p.add_argument("--models", nargs="+", default=list(REAL), choices=list(REAL))
    p.add_argument("--engines", nargs="+", default=["hf", "vllm"], choices=["hf", "vllm"])
    p.add_argument("--sides", nargs="+", default=["gpg_vl", "trl"], choices=["gpg_vl", "trl"])
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--vllm-memory", type=float, default=0.3)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.models:
        folder, n_params = build_model(name, REAL[name], out, args.scale)
        for engine in args.engines:
            work = Workload(name, family=REAL[name]["family"], image_sides=(224,), prompts_per_step=4,
                            num_generations=8, max_new_tokens=args.max_new_tokens, micro_batch_size=8,
                            rows=16, engine=engine, vllm_memory=args.vllm_memory)
            paths = {"model": str(folder), "data": str(write_data(work, out / "data"))}
            for side in args.sides:
                raw = run_side(side, work, paths, steps=2, threads=4)
                row = {"model": name, "params": n_params, "engine": engine, "side": side,
                       **figures(raw, n_params, warmup=1)}
                results.append(row)
                print(json.dumps(row), flush=True)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    return 0


def table(rows: list[dict]) -> str:
    lines = ["| model | trainer | engine | rollout tokens/s | update MFU | peak GPU MiB |", "| --- | --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['side']} | {r['engine']} | error: {r['error'][:80]} | | |")
            continue
        tps = f"{r['rollout_tokens_per_s']:.0f}" if r["rollout_tokens_per_s"] else "-"
        mfu = f"{100 * r['update_mfu']:.1f} %" if r["update_mfu"] else "-"
        lines.append(f"| {r['model']} | {r['side']} | {r['engine']} | {tps} | {mfu} | {r['peak_gpu_mb'] or '-'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
