"""One side of a benchmark in its own process, so that peak memory figures do not mix.

``python -m gpg_vl.bench.side SPEC.json OUT.json``: SPEC holds the side (gpg_vl or trl), the
workload's fields, the prepared paths, the step count and the thread count. OUT receives the
side's per-step records and peak memory, or ``{"error": ...}`` when TRL's side cannot be built.
"""
from __future__ import annotations

import json
import sys
import tempfile


def run_side(spec: dict) -> dict:
    import torch

    from gpg_vl.bench.workload import Workload

    torch.set_num_threads(spec["threads"])
    fields = dict(spec["workload"])
    fields["image_sides"] = tuple(fields["image_sides"])
    work = Workload(**fields)
    with tempfile.TemporaryDirectory(prefix=f"gpg-vl-bench-{spec['side']}-") as out_dir:
        if spec["side"] == "gpg_vl":
            from gpg_vl.bench.gpg_side import run_gpg

            return run_gpg(work, spec["paths"], spec["steps"], out_dir)
        from gpg_vl.bench.trl_side import TRLUnavailable, run_trl

        try:
            return run_trl(work, spec["paths"], spec["steps"], out_dir)
        except TRLUnavailable as exc:
            return {"error": str(exc)}


def main(argv: list[str] | None = None) -> int:
    spec_path, out_path = (argv if argv is not None else sys.argv[1:])
    with open(spec_path) as f:
        spec = json.load(f)
    result = {"side": spec["side"], "threads": spec["threads"], **run_side(spec)}
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
