"""A frozen vision tower, side by side: the update reuses sampling's image features, or encodes again.

    python -m gpg_vl.bench.vision_reuse [--workload small] [--steps 5] [--threads 2]

Builds the workload of ``gpg-vl bench`` (``small``: vision depth 4, 224-448 px images, G = 8),
then runs the same GPG steps twice with ``model.freeze_vision=true``: once as the trainer does
(``reuse_image_features``: the update uses the features sampling computed) and once with the
reuse switched off (the update runs the vision tower again). Prints the median update seconds and
vision patches encoded per phase of each (the first step is not counted), the update-time ratio,
and the largest weight difference between the two (reuse changes where features come from, not
what they are).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time


def run_side(work, paths: dict, steps: int, out_dir: str, reuse: bool) -> tuple[list[dict], dict]:
    import torch

    from gpg_vl.bench.counters import WorkCounter
    from gpg_vl.bench.gpg_side import config
    from gpg_vl.trainer.setup import build_run
    from gpg_vl.trainer.step import collect, update

    cfg = config(work, paths, steps, out_dir)
    cfg.model.freeze_vision = True
    run = build_run(cfg)
    run.model.reuse_image_features = reuse
    counter = WorkCounter(run.model.policy, run.model.processor.tokenizer)
    records = []
    for _ in range(steps):
        with counter.in_phase("gen"):
            pieces, _ = collect(run.cfg, run.accelerator, run.model, run.data, run.reward_model, run.counters)
        t0 = time.perf_counter()
        with counter.in_phase("update"):
            update(run, pieces)
        records.append({"update_seconds": time.perf_counter() - t0, **counter.take()})
    return records, {n: p.detach().clone() for n, p in run.model.policy.named_parameters()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="small")
    p.add_argument("--steps", type=int, default=5, help="steps per side; medians skip the first")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--root", default="runs/bench")
    args = p.parse_args(argv)

    import torch

    from gpg_vl.bench.workload import get_workload, prepare

    torch.set_num_threads(args.threads)
    work = get_workload(args.workload)
    paths = prepare(work, args.root)
    sides = {reuse: run_side(work, paths, args.steps, f"{args.root}/vision_reuse_{reuse}", reuse)
             for reuse in (True, False)}
    print(f"{work.name}: frozen vision tower, B = {work.prompts_per_step} x G = {work.num_generations}, "
          f"medians of steps 2..{args.steps}")
    median = {}
    for reuse, (records, _) in sides.items():
        rest = records[1:] or records
        median[reuse] = statistics.median(r["update_seconds"] for r in rest)
        print(f"reuse={str(reuse):5}  update s/step {median[reuse]:.3f}  vision patches per step: "
              f"gen {rest[0]['gen_patches']:.0f}, update {rest[0]['update_patches']:.0f}")
    (_, a), (_, b) = sides[True], sides[False]
    print(f"update ratio reuse / encode again: {median[True] / median[False]:.3f}")
    print(f"max weight difference: {max((a[n] - b[n]).abs().max().item() for n in a):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
