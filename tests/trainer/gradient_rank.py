"""One rank of the 2-process gradient-equivalence test (``accelerate launch`` runs it twice).

Rank 0 updates on prompts 0 and 1 (6 rows), rank 1 on prompt 2 (3 rows): different numbers of
micro-batches per rank, so the update's padding passes and the no-sync boundary are exercised.
Each rank saves the gradient handed to its optimizer; rank 0 also the weights it started from.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from conftest import scramble  # noqa: E402
from test_gradient_equivalence import (G, Case, captured_update, completions, make_config, pieces_for,  # noqa: E402
                                       rewards_for, warm_up)

OWNED = {0: [0, 1], 1: [2]}  # rank -> prompts


def main(spec_path: str) -> None:
    from gpg_vl.trainer.setup import build_run

    torch.set_num_threads(1)
    spec = json.loads(Path(spec_path).read_text())
    case = Case(**spec["case"])
    model_dir, train, root = spec["config"]
    run = build_run(make_config({case.family: model_dir}, {"train": train}, Path(root) / "ranks", case))
    rank, out = run.accelerator.process_index, Path(spec["out"])
    scramble(run.model.policy, seed=1)
    if case.warmup:
        warm_up(run)
    run.model.policy.train(case.train_mode)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.clone() for k, v in run.model.policy.state_dict().items()}, out / "start.pt")
    ids, end_ids = completions(run)  # the whole batch's [9, C]; this rank keeps its groups' rows
    rows = [p * G + k for p in OWNED[rank] for k in range(G)]
    samples = [run.data.train_samples[p] for p in OWNED[rank]]
    _, grads = captured_update(run, pieces_for(run, samples, [rewards_for(case)[r] for r in rows], ids[rows], end_ids))
    run.accelerator.wait_for_everyone()
    torch.save(grads, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1])
