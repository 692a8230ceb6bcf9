"""Peak memory of the update with and without ``model.gradient_checkpointing``, side by side.

    python -m gpg_vl.bench.checkpoint_memory --workload small

Each setting runs in a fresh process (a process keeps freed pages, which would hide the second
setting's growth): ``build_run`` on the benchmark workload, one ``collect`` (the same completions
in both: sampling runs without gradients and does not checkpoint), then one ``update``. Reported
per setting: the update's peak resident memory above its start (Linux VmHWM, reset just
before), the CUDA peak on a GPU, and the activations autograd kept for backward outside
checkpointed regions (bytes of saved tensors, the quantity checkpointing trades for recompute).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys


LABELS = {"update_peak_rss_mb": "update peak resident memory above its start (MiB)",
          "update_peak_gpu_mb": "update peak CUDA memory (MiB)",
          "saved_activations_mb": "activations kept for backward, summed over micro-batches (MiB)"}


def measure(workload: str, root: str, checkpointing: bool, threads: int) -> dict:
    """One setting, in this process."""
    import torch

    from gpg_vl.bench.counters import peak_gpu_mb, peak_rss_mb, reset_peak_rss, rss_mb
    from gpg_vl.bench.gpg_side import config
    from gpg_vl.bench.workload import get_workload, prepare
    from gpg_vl.trainer.setup import build_run
    from gpg_vl.trainer.step import collect, update

    torch.set_num_threads(threads)
    work = get_workload(workload)
    cfg = config(work, prepare(work, root), 1, f"{root}/ckpt-memory-{int(checkpointing)}")
    cfg.model.gradient_checkpointing = checkpointing
    run = build_run(cfg)
    pieces, _ = collect(run.cfg, run.accelerator, run.model, run.data, run.reward_model, run.counters)
    kept = [0]

    def pack(t):
        kept[0] += t.numel() * t.element_size()
        return t

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    start = rss_mb()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        stats = update(run, pieces)
    tokens = sum(int(p.rollout.completion_mask[p.rows(work.num_generations)].sum()) for p in pieces)
    return {"checkpointing": checkpointing, "update_peak_rss_mb": peak_rss_mb() - start,
            "update_peak_gpu_mb": peak_gpu_mb(), "saved_activations_mb": kept[0] / 2**20,
            "completion_tokens": tokens, "skipped": int(stats.get("skipped", 0))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="small")
    parser.add_argument("--root", default="runs/bench")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--one", choices=["on", "off"], help=argparse.SUPPRESS)  # a single setting (child)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.workload, args.root, args.one == "on", args.threads)))
        return 0
    rows = {}
    for setting in ("off", "on"):
        out = subprocess.run([sys.executable, "-m", "gpg_vl.bench.checkpoint_memory", "--workload", args.workload,
                              "--root", args.root, "--threads", str(args.threads), "--one", setting],
                             check=True, capture_output=True, text=True).stdout
        rows[setting] = json.loads(out.strip().splitlines()[-1])
    print(f"workload {args.workload}: one update, {rows['off']['completion_tokens']} completion tokens "
          f"(same completions in both)\n")
    print("| figure | without checkpointing | with | with / without |\n| --- | ---: | ---: | ---: |")
    for key, label in LABELS.items():
        a, b = rows["off"][key], rows["on"][key]
        if a is not None and b is not None:
            print(f"| {label} | {a:.1f} | {b:.1f} | {b / a:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
