"""Sums and maxima over ranks, so that every rank takes the same decision (identity on one process)."""
from __future__ import annotations

import torch


def global_sum(accelerator, values: list[float]) -> list[float]:
    """Element-wise sum over ranks (identity on one process)."""
    t = torch.tensor(values, dtype=torch.float64, device=accelerator.device)
    return accelerator.reduce(t, reduction="sum").tolist() if accelerator.num_processes > 1 else values


def global_max(accelerator, value: float) -> float:
    """Maximum over ranks (identity on one process)."""
    if accelerator.num_processes == 1:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=accelerator.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.item()
