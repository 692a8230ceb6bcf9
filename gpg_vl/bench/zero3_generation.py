"""ZeRO-3 generation, side by side: full weights gathered once per rollout vs layer by layer.

    python -m gpg_vl.bench.zero3_generation [--processes 2] [--steps 4] [--max-new-tokens 48]

Builds the tiny demo model and synthetic data, then runs the same short GPG training twice under
``accelerate launch --use_deepspeed`` with configs/deepspeed/zero3.json (gloo on CPU, NCCL on
GPUs): once with ``rollout.gather_zero3_for_generation=true`` (the default) and once with false.
Prints the median generation seconds per step of each (the first step is not counted), their
ratio, and the largest weight difference between the two final models (the switch changes how
weights are fetched, not what is computed).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def launch(out: Path, model: Path, data: Path, args, gather: bool) -> list[dict]:
    cmd = [str(Path(sys.executable).with_name("accelerate")), "launch", "--num_processes", str(args.processes),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--use_deepspeed",
           "--deepspeed_config_file", str(REPO / "configs/deepspeed/zero3.json"),
           "--main_process_port", str(args.port), "-m", "gpg_vl.cli", "train",
           "--config", str(REPO / "configs/demo.yaml"), f"model.path={model}", f"data.train={data}",
           "data.test=null", f"train.output_dir={out}", f"train.steps={args.steps + 1}", "warmup.steps=0",
           f"train.prompts_per_step={2 * args.processes}", "rollout.num_generations=4",
           f"rollout.max_new_tokens={args.max_new_tokens}", "algorithm.beta_th=null", "train.tensorboard=false",
           "rewards=[{name: format, options: {mode: answer_only}}]",
           f"rollout.gather_zero3_for_generation={str(gather).lower()}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    subprocess.run(cmd, cwd=REPO, env=env, check=True, timeout=args.timeout, stdout=subprocess.DEVNULL)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--steps", type=int, default=4, help="measured steps (one more runs first)")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--port", type=int, default=29517)
    p.add_argument("--timeout", type=float, default=1200)
    p.add_argument("--root", default="runs/bench_zero3")
    args = p.parse_args(argv)

    from safetensors.torch import load_file

    from gpg_vl.data.synthetic import make_synthetic, tokenizer_corpus
    from gpg_vl.models.tiny import build_tiny

    root = Path(args.root).resolve()
    model = build_tiny(root / "model", family="qwen2_vl", corpus=tokenizer_corpus())
    data = Path(make_synthetic(root / "data", seed=0, n_train=16, n_test=1)["train"])
    result = {}
    for gather in (True, False):
        out = root / ("gathered" if gather else "layerwise")
        if out.exists():
            subprocess.run(["rm", "-rf", str(out)], check=True)
        rows = launch(out, model, data, args, gather)
        result[gather] = (statistics.median(r["gen_seconds"] for r in rows[1:]), load_file(str(out / "final/model.safetensors")))
    (t_on, w_on), (t_off, w_off) = result[True], result[False]
    diff = max((w_on[k] - w_off[k]).abs().max().item() for k in w_on)
    print(f"ZeRO-3 x {args.processes}, {args.max_new_tokens} new tokens, median of {args.steps} steps")
    print(f"generation s/step  gathered once: {t_on:.3f}  layer by layer: {t_off:.3f}  ratio: {t_on / t_off:.3f}")
    print(f"max weight difference between the two runs: {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
