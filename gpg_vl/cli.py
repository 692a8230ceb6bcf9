"""The ``gpg-vl`` command: build-tiny, make-data, train, demo, compare, verify, eval, bench,
check-export.

Every subcommand turns bad input into one clear error line (exit code 2) rather than a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpg_vl.errors import ConfigError, MissingInputError
from gpg_vl.families import FAMILIES


def cmd_build_tiny(args) -> int:
    from gpg_vl.data.synthetic import tokenizer_corpus
    from gpg_vl.models.tiny import build_tiny

    out = build_tiny(args.out, family=args.family, seed=args.seed, corpus=tokenizer_corpus())
    print(f"tiny {args.family} policy + processor saved to {out}")
    return 0


def cmd_make_data(args) -> int:
    from gpg_vl.data.synthetic import make_synthetic

    if args.kind != "synthetic":
        raise ConfigError(f"unknown data kind {args.kind!r}; available: synthetic")
    paths = make_synthetic(args.out, seed=args.seed, n_train=args.train_per_task, n_test=args.test_per_task)
    print(f"synthetic data: {paths['train']} and {paths['test']}")
    return 0


def cmd_train(args) -> int:
    from gpg_vl.config import Config, describe, load_config

    if args.describe_config:
        print("\n".join(describe(Config)))
        return 0
    overrides = list(args.overrides) + (["train.overwrite=true"] if args.overwrite else [])
    if args.allow_change:
        overrides.append("train.allow_change=[" + ", ".join(args.allow_change) + "]")
    cfg = load_config(Config, args.config, overrides)
    if args.dry_run:
        from gpg_vl.dry_run import dry_run

        print(dry_run(cfg))
        return 0
    if args.deepspeed:
        use_deepspeed_config(args.deepspeed, args.mixed_precision or MIXED_PRECISION.get(cfg.model.dtype, "no"))
    from gpg_vl.trainer.loop import TrainingStopped, train

    ok = False
    try:
        train(cfg)
        ok = True
    except TrainingStopped as exc:  # a clean stop: the reason in one line, checkpoints intact
        print(f"gpg-vl train: stopped: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:  # ModelLoadError, datasets' errors: the offline hint for hub ids
        hint = hub_hint(exc, {"model.path": cfg.model.path, "data.train": cfg.data.train})
        if hint is None:
            raise
        raise HubLookupError(f"{exc}; {hint}") from exc
    finally:
        shutdown_distributed(wait=ok)
    return 0


class HubLookupError(OSError):
    """A hub id that could not be loaded, with how to work offline (one line, exit 2)."""


HUB_FAILURE = ("connect", "offline", "resolve", "network", "timed out", "huggingface.co", "hub",
               "repository not found", "couldn't find", "not found")


def hub_hint(exc: BaseException, paths: dict[str, str]) -> str | None:
    """When a name that is not a local path failed to load, say how to run without the hub."""
    from gpg_vl.dry_run import looks_like_hub_id

    text = str(exc).lower()
    for key, value in paths.items():
        if value and looks_like_hub_id(value) and value.lower() in text and not Path(value).exists() \
                and any(word in text for word in HUB_FAILURE):
            return (f"{key}={value} is not a local path, so it was looked up on the Hugging Face hub. "
                    f"Without hub access, download it on a machine that has it (huggingface-cli download "
                    f"{value} --local-dir DIR{' --repo-type dataset' if key.startswith('data') else ''}) "
                    f"and set {key}=DIR, or set HF_HUB_OFFLINE=1 to use a copy already in the local cache")
    return None


MIXED_PRECISION = {"bfloat16": "bf16", "float16": "fp16"}  # model.dtype -> accelerate's mixed precision


def use_deepspeed_config(path: str, mixed_precision: str) -> None:
    """``gpg-vl train --deepspeed FILE`` under torchrun (or a plain single process): the settings
    ``accelerate launch --use_deepspeed --deepspeed_config_file FILE --mixed_precision MP`` would
    pass to the trainer's Accelerator, through the same environment variables."""
    import os

    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        raise ConfigError("--deepspeed: accelerate launch already configured DeepSpeed "
                         "(--use_deepspeed); give the DeepSpeed config in one place")
    if not Path(path).is_file():
        raise MissingInputError(f"--deepspeed: no such DeepSpeed config file: {path}")
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

    run_demo(args.out, config=args.config, overrides=args.overrides, family=args.family, threads=args.threads)
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


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        return dist_version("gpg-vl")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown (not installed)"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpg-vl", description="GPG reinforcement learning for Qwen-VL models")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build-tiny", help="build a tiny random-weight Qwen-VL policy locally")
    p.add_argument("--family", choices=list(FAMILIES), default=next(iter(FAMILIES)),
                   help=f"model family to build (default: {next(iter(FAMILIES))})")
    p.add_argument("--out", required=True, help="folder to save the model and processor in")
    p.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default: 0)")
    p.set_defaults(fn=cmd_build_tiny)

    p = sub.add_parser("make-data", help="write a dataset (synthetic demo tasks)")
    p.add_argument("kind", choices=["synthetic"], help="data kind: synthetic (the demo's colour, counting "
                   "and grounding tasks)")
    p.add_argument("--out", required=True, help="folder for train.jsonl, test.jsonl and the images")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--train-per-task", type=int, default=400, help="training rows per task (default: 400)")
    p.add_argument("--test-per-task", type=int, default=50, help="test rows per task (default: 50)")
    p.set_defaults(fn=cmd_make_data)

    p = sub.add_parser("train", help="train with GPG from a YAML config (+ key.sub=value overrides)")
    p.add_argument("--config", help="YAML config (configs/*.yaml)")
    p.add_argument("--describe-config", action="store_true",
                   help="list every config key with its default, meaning and allowed values, and exit")
    p.add_argument("--dry-run", action="store_true", help="check the config, model and data paths, rewards "
                   "and logging backends without loading or writing anything, and exit")
    p.add_argument("--deepspeed", metavar="FILE", help="DeepSpeed config (configs/deepspeed/*.json) when "
                   "launching with torchrun; under accelerate launch use its --use_deepspeed instead")
    p.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"],
                   help="with --deepspeed (default: bf16 for model.dtype bfloat16, fp16 for float16, else no)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run's final/, metrics and "
                   "checkpoints in train.output_dir (a fresh run refuses such a folder otherwise)")
    p.add_argument("--allow-change", action="append", default=[], metavar="KEY",
                   help="on resume, let KEY (or a section, e.g. data) differ from the checkpoint's config; "
                   "repeatable")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=1e-5")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("demo", help="the embedded demo: tiny model, synthetic tasks, before/after report")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--config", default=None, help="demo config (default: configs/demo.yaml)")
    p.add_argument("--family", choices=list(FAMILIES), default=next(iter(FAMILIES)),
                   help="model family of the tiny policy (gpg_vl.families)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads (default: one per core); 1 gives the same run every time, "
                        "whatever the load, at about half the speed on 2 cores")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.steps=50")
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
    # Before any command imports a library: saving the demo's tiny model imports DeepSpeed's
    # accelerator probe, which warns and draws progress bars unless told first.
    from gpg_vl.console import quiet_third_party

    quiet_third_party()
    try:
        return args.fn(args) or 0
    except USER_ERRORS as exc:
        print(f"gpg-vl {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
