"""Pure decisions of a training step, tested without a model: which groups a step keeps
(beta_th) and how the update splits its rows into micro-batches, padded across ranks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def group_rows(prompts: list[int], g: int) -> list[int]:
    """Rollout rows of the given prompts (prompt p's samples are rows p*G .. p*G+G-1)."""
    return [p * g + k for p in prompts for k in range(g)]


def keep_groups(valid: list[list[bool]], per_rank: int) -> list[list[int]]:
    """The groups a step keeps from its draws: for each draw, its kept prompt indices, ascending.

    ``valid[d][p]``: whether prompt ``p`` of draw ``d`` has rewards that vary. GPG's beta_th rule
    (arXiv 2504.02546) draws again while too few samples are valid; the batch then takes the
    valid groups of every draw first (earlier draws first), and degenerate ones fill it up to
    ``per_rank`` prompts, so the batch size does not change.
    """
    ranked = sorted((not v, d, p) for d, vs in enumerate(valid) for p, v in enumerate(vs))[:per_rank]
    return [sorted(p for _, dd, p in ranked if dd == d) for d in range(len(valid))]


def enough_valid(n_valid: float, n_total: float, beta_th: float | None) -> bool:
    """Whether a batch with ``n_valid`` of ``n_total`` prompts in valid groups (counts over all
    ranks) stops drawing: always without beta_th, else once the fraction reaches it."""
    return beta_th is None or n_valid / n_total >= beta_th


def micro_batches(rows: list[int], size: int, lengths: list[int] | None = None) -> list[list[int]]:
    """Split ``rows`` (kept in order) into the update's micro-batches.

    Without ``lengths``: ``size`` rows each. With ``lengths`` (each row's completion tokens) the
    split is by token count: a micro-batch takes rows while rows x its longest row stays within
    ``size`` x the longest row overall, the padded tokens of a ``size``-row batch. Short
    completions then share fewer, fuller forwards, and no micro-batch holds more padded tokens
    than a fixed ``size``-row one. Order is kept, so a group's rows stay together and its prompt
    is prefilled once.
    """
    if lengths is None:
        return [rows[i:i + size] for i in range(0, len(rows), size)]
    budget = size * max([1, *lengths])
    batches, current, longest = [], [], 0
    for row, n in zip(rows, lengths, strict=True):
        n = max(int(n), 1)
        if current and (len(current) + 1) * max(longest, n) > budget:
            batches.append(current)
            current, longest = [], 0
        current.append(row)
        longest = max(longest, n)
    return batches + [current] if current else batches


@dataclass(frozen=True)
class MicroBatch:
    """One forward/backward of the update."""

    piece: int  # which piece (draw) the rows come from
    rows: list[int]  # rollout rows of that piece
    advantages: torch.Tensor  # [len(rows)]
    weight: float = 1.0  # 0.0: a pass that only keeps the ranks in step (its gradient is dropped)


def plan_micro_batches(rows: list[list[int]], advantages: list[torch.Tensor], lengths: list[list[int]],
                       size: int, keep_zero: bool) -> list[MicroBatch]:
    """The update's micro-batches over every piece's kept rows.

    Per piece ``i``: ``rows[i]`` its kept rollout rows, ``advantages[i]`` ``[len(rows[i])]``,
    ``lengths[i]`` each row's completion tokens. A row with advantage exactly 0 has no policy
    gradient, so it is left out unless ``keep_zero`` (a loss with a KL term still needs it);
    zero-variance groups have exactly 0 (see ``group_advantages``), so they cost nothing.
    """
    plan = []
    for i, (piece_rows, adv, lens) in enumerate(zip(rows, advantages, lengths, strict=True)):
        live = [k for k in range(len(piece_rows)) if keep_zero or adv[k] != 0]
        for mb in micro_batches(live, size, [lens[k] for k in live]):
            plan.append(MicroBatch(i, [piece_rows[k] for k in mb], adv[mb]))
    return plan


def pad_plan(plan: list[MicroBatch], n_passes: int, fallback: MicroBatch) -> list[MicroBatch]:
    """``plan`` extended to ``n_passes`` (the most passes any rank has) with weight-0 repeats.

    Every rank runs the same number of forward/backward passes: ZeRO-3 gathers parameters in
    each one collectively, and DDP all-reduces in the last. A rank with less work repeats its
    first micro-batch (or ``fallback`` when it has none) with weight 0.
    """
    if n_passes < len(plan):
        raise ValueError(f"n_passes={n_passes} is below this rank's {len(plan)} micro-batches")
    base = plan[0] if plan else fallback
    filler = MicroBatch(base.piece, base.rows, torch.zeros(len(base.rows)), weight=0.0)
    return plan + [filler] * (n_passes - len(plan))
