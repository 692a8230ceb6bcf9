"""The ``gpg-vl`` command: build-tiny, make-data, train, demo, compare, verify, eval, bench,
check-export.

Every subcommand turns bad input into one clear error line (exit code 2) rather than a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_build_tiny(args) -> int:
    from gpg_vl.data.synthetic import tokenizer_corpus
    from gpg_vl.models.tiny import build_tiny

    out = build_tiny(args.out, family=args.family, seed=args.seed, corpus=tokenizer_corpus())
    print(f"tiny {args.family} policy + processor saved to {out}")
    return 0


def cmd_make_data(args) -> int:
    from gpg_vl.data.synthetic import make_synthetic

    if args.kind != "synthetic":
        raise ValueError(f"unknown data kind {args.kind!r}; available: synthetic")
    paths = make_synthetic(args.out, seed=args.seed, n_train=args.train_per_task, n_test=args.test_per_task)
    print(f"synthetic data: {paths['train']} and {paths['test']}")
    return 0


def cmd_train(args) -> int:
    from gpg_vl.config import Config, describe, load_config

    if args.describe_config:
        print("\n".join(describe(Config)))
        return 0
    cfg = load_config(Config, args.config, args.overrides)
    if args.deepspeed:
        use_deepspeed_config(args.deepspeed, args.mixed_precision or MIXED_PRECISION.get(cfg.model.dtype, "no"))
    from gpg_vl.trainer.loop import train

    ok = False
    try:
        train(cfg)
        ok = True
    finally:
        shutdown_distributed(wait=ok)
    return 0


MIXED_PRECISION = {"bfloat16": "bf16", "float16": "fp16"}  # model.dtype -> accelerate's mixed precision


def use_deepspeed_config(path: str, mixed_precision: str) -> None:
    """``gpg-vl train --deepspeed FILE`` under torchrun (or a plain single process): the settings
    ``accelerate launch --use_deepspeed --deepspeed_config_file FILE --mixed_precision MP`` would
    pass to the trainer's Accelerator, through the same environment variables."""
    import os

    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        raise ValueError("--deepspeed: accelerate launch already configured DeepSpeed "
                         "(--use_deepspeed); give the DeepSpeed config in one place")
    if not Path(path).is_file():
        raise ValueError(f"--deepspeed: no such DeepSpeed config file: {path}")
    os.environ.update({"ACCELERATE_USE_DEEPSPEED": "true",
                       "ACCELERATE_DEEPSPEED_CONFIG_FILE": str(Path(path).resolve()),
                       "ACCELERATE_MIXED_PRECISION": mixed_precision})


def shutdown_distributed(wait: bool = True) -> None:
    """Leave the process group cleanly (torchrun + gloo was seen to hang at exit otherwise).

    After a failure there is no barrier: the other ranks may never reach it.
    """
    try:
        import torch.distributed as dist
    except ImportError:
        return
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def cmd_demo(args) -> int:
    from gpg_vl.demo import run_demo

    run_demo(args.out, config=args.config, overrides=args.overrides)
    return 0


def cmd_check_export(args) -> int:
    from gpg_vl.models.export_check import ExportCheckError, check_export, default_vllm_python

    python = args.vllm_python or default_vllm_python(Path(__file__).resolve().parents[1])
    try:
        check = check_export(args.model, python, requests=args.requests, max_tokens=args.max_tokens, tol=args.tol)
    except ExportCheckError as exc:
        print(f"gpg-vl check-export: {exc}", file=sys.stderr)
        return 1
    print(check.report())
    return 0 if check.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpg-vl", description="GPG reinforcement learning for Qwen-VL models")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build-tiny", help="build a tiny random-weight Qwen-VL policy locally")
    p.add_argument("--family", choices=["qwen2_vl", "qwen2_5_vl"], default="qwen2_vl")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=cmd_build_tiny)

    p = sub.add_parser("make-data", help="write a dataset (synthetic demo tasks)")
    p.add_argument("kind", choices=["synthetic"])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-per-task", type=int, default=400)
    p.add_argument("--test-per-task", type=int, default=50)
    p.set_defaults(fn=cmd_make_data)

    p = sub.add_parser("train", help="train with GPG from a YAML config (+ key.sub=value overrides)")
    p.add_argument("--config", help="YAML config (configs/*.yaml)")
    p.add_argument("--describe-config", action="store_true", help="list every config key and exit")
    p.add_argument("--deepspeed", metavar="FILE", help="DeepSpeed config (configs/deepspeed/*.json) when "
                   "launching with torchrun; under accelerate launch use its --use_deepspeed instead")
    p.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"],
                   help="with --deepspeed (default: bf16 for model.dtype bfloat16, fp16 for float16, else no)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=1e-5")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("demo", help="the embedded demo: tiny model, synthetic tasks, before/after report")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--config", default=None, help="demo config (default: configs/demo.yaml)")
    p.add_argument("overrides", nargs="*")
    p.set_defaults(fn=cmd_demo)

    p = sub.add_parser("compare", help="train config variants (GPG, GPG without alpha, GRPO, Dr.GRPO) over "
                       "several seeds; a markdown table and a PNG of curves")
    from gpg_vl import compare
    compare.add_arguments(p)
    p.set_defaults(fn=compare.run)

    p = sub.add_parser("verify", help="score completions in a JSONL file with one verifier")
    from gpg_vl.verifiers import cli as verify_cli
    verify_cli.add_arguments(p)
    p.set_defaults(fn=verify_cli.run)

    p = sub.add_parser("bench", help="benchmark gpg-vl against TRL's GRPOTrainer on one workload")
    from gpg_vl.bench import cli as bench_cli
    bench_cli.add_arguments(p)
    p.set_defaults(fn=bench_cli.run)

    p = sub.add_parser("check-export", help="check that vLLM runs an exported model as transformers does")
    p.add_argument("model", help="exported folder (OUTPUT_DIR/final)")
    p.add_argument("--vllm-python", help="Python of an environment with vLLM (default: .venv-vllm, "
                   "made by scripts/setup_vllm.sh, else this Python)")
    p.add_argument("--requests", type=int, default=4, help="image prompts to generate from")
    p.add_argument("--max-tokens", type=int, default=16, help="greedy tokens per prompt")
    p.add_argument("--tol", type=float, default=1e-3, help="largest log-probability difference allowed")
    p.set_defaults(fn=cmd_check_export)

    p = sub.add_parser("eval", help="evaluate a model on a benchmark (or `eval score` predictions)")
    try:
        from gpg_vl.eval import cli as eval_cli
    except ImportError:  # the harness is optional at import time
        eval_cli = None
    if eval_cli is not None:
        eval_cli.add_arguments(p)
        p.set_defaults(fn=eval_cli.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from gpg_vl.errors import USER_ERRORS

    args = build_parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except USER_ERRORS as exc:
        print(f"gpg-vl {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
