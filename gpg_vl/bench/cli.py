"""``gpg-vl bench``: the same workload through gpg-vl and through TRL's GRPOTrainer, side by side.

Prints medians of step / generation / update seconds, vision patches encoded and prompt tokens
prefilled per step, peak memory, and the ratios gpg-vl / TRL; ``--out FILE.json`` also writes
them. When TRL's side cannot be built the run says why and reports gpg-vl's figures as unpaired.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from gpg_vl.bench.workload import WORKLOADS, get_workload
from gpg_vl.errors import ConfigError


def add_arguments(parser) -> None:
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="tiny",
                        help="tiny: the demo model on 112 px images; small: vision depth 4, 224-448 px images")
    parser.add_argument("--steps", type=int, default=5, help="measured steps per side (medians over these)")
    parser.add_argument("--warmup", type=int, default=1, help="steps run first and not counted")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads, the same on both sides (1 repeats best on a shared machine)")
    parser.add_argument("--side", choices=["both", "gpg_vl"], default="both",
                        help="run one side only (a gpg-vl-only run is reported as unpaired)")
    parser.add_argument("--num-generations", type=int, default=None, help="override the workload's G")
    parser.add_argument("--prompts-per-step", type=int, default=None, help="override the workload's B")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="override the completion length")
    parser.add_argument("--micro-batch-size", type=int, default=None, help="override the update micro-batch")
    parser.add_argument("--engine", choices=["hf", "vllm", "both"], default="hf",
                        help="sampler on both sides: hf (each trainer's own generate), vllm (each with a "
                             "colocated vLLM engine; run from the vLLM environment), or both, one after the other")
    parser.add_argument("--vllm-memory", type=float, default=None,
                        help="gpu_memory_utilization of the colocated vLLM engines (default 0.3)")
    parser.add_argument("--root", default="runs/bench", help="where workload checkpoints and data are built")
    parser.add_argument("--out", default=None, help="write the result JSON here")
    parser.add_argument("--render", default=None, metavar="FILE.json",
                        help="print the table of a saved result (medians recomputed) and exit")


def engine_ratios(hf: dict, vllm: dict) -> dict:
    """Median step and generation seconds of every side with vLLM over gpg-vl's hf engine."""
    def get(result, side, key):
        return (result.get(side) or {}).get(key)

    base = {key: get(hf, "gpg_vl", key) for key in ("step_seconds", "gen_seconds")}
    out = {}
    for label, result, side in (("gpg-vl vllm", vllm, "gpg_vl"), ("TRL hf", hf, "trl"), ("TRL vllm colocate", vllm, "trl")):
        for key in ("step_seconds", "gen_seconds"):
            value = get(result, side, key)
            out[f"{label} / gpg-vl hf, {key}"] = value / base[key] if value and base[key] else None
    return out


def run(args) -> int:
    from gpg_vl.bench.runner import format_table, resummarise, run_benchmark

    if args.render:
        result = resummarise(json.loads(Path(args.render).read_text()))
        print(f"command: {result.get('command')}\n")
        print(format_table(result))
        return 0
    if args.steps < 1 or args.warmup < 0 or args.threads < 1:
        raise ConfigError("--steps and --threads must be >= 1 and --warmup >= 0")
    engines = ["hf", "vllm"] if args.engine == "both" else [args.engine]
    works = [get_workload(args.workload, num_generations=args.num_generations,
                          prompts_per_step=args.prompts_per_step, max_new_tokens=args.max_new_tokens,
                          micro_batch_size=args.micro_batch_size, engine=engine, vllm_memory=args.vllm_memory)
             for engine in engines]
    sides = ("gpg_vl", "trl") if args.side == "both" else ("gpg_vl",)
    threads = args.threads
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    results = [run_benchmark(work, args.steps, args.warmup, threads, args.root, sides=sides, log=log)
               for work in works]
    command = "gpg-vl bench " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
        if len(sys.argv) > 1 and sys.argv[1] == "bench" else None
    for result in results[:-1]:
        result["command"] = command
        print(f"engine {result['settings']['engine']}:")
        print(format_table(result) + "\n")
    result = results[-1]
    result["command"] = command
    if len(results) == 2:
        result["engine_comparison"] = engine_ratios(results[0], result)
        print(f"engine {result['settings']['engine']}:")
    if result["trl_error"] and args.side == "both":
        log(f"[bench] TRL's side is unavailable: {result['trl_error']}")
        log("[bench] reporting gpg-vl's own figures, UNPAIRED")
    print(format_table(result))
    if "engine_comparison" in result:
        print("\n" + "\n".join(f"- {k}: {v:.3g}" if v is not None else f"- {k}: -"
                                for k, v in result["engine_comparison"].items()))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
        log(f"[bench] wrote {args.out}")
    return 0
