"""Masked reductions of a per-token quantity ``[N, T]`` to the scalar a loss minimises.

The choice of reduction is part of each algorithm, so each one cites where it comes from:
- ``"token-mean"``: sum over every valid token of the batch / number of valid tokens. GPG's
  objective (arXiv 2504.02546) normalises by sum_i |o_i|, the batch's completion tokens.
- ``"seq-mean"``: masked mean over each sequence's tokens, then mean over sequences: the
  1/G sum_i 1/|o_i| sum_t of GRPO (DeepSeekMath, arXiv 2402.03300, Eq. 3).
- ``constant_length_sum``: each sequence's token sum / a constant (the generation cap), then
  mean over sequences: Dr. GRPO (arXiv 2503.20783), whose released code uses
  ``masked_sum(..., constant_normalizer=generate_max_length)`` to remove GRPO's length bias.

Global normalisers. With gradient accumulation over micro-batches and ranks, each call sees a
slice of the batch. Passing the GLOBAL count (``num_tokens`` for token-mean, ``num_sequences``
for the per-sequence reductions) makes the per-call losses add up to the full-batch loss; the
default ``None`` uses this call's own count. Every reduction takes both keywords so callers
never branch on the reduction; each ignores the one it does not use.

Padded positions may hold anything (even -inf): values are selected with ``torch.where``, never
multiplied by the mask, so no NaN leaks into the result or its gradient.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from gpg_vl.algorithms import _checks

Aggregation = Callable[..., Tensor]
"""``fn(values [N, T], mask [N, T], *, num_tokens=None, num_sequences=None) -> scalar``."""

AGGREGATIONS: dict[str, Aggregation] = {}


def _register(name: str) -> Callable[[Aggregation], Aggregation]:
    def register(fn: Aggregation) -> Aggregation:
        AGGREGATIONS[name] = fn
        return fn

    return register


def masked_values(values: Tensor, mask: Tensor) -> Tensor:
    """``values`` with padded positions set to exactly 0 (gradient there is 0 too)."""
    return torch.where(mask.bool(), values, torch.zeros_like(values))  # [N, T]


@_register("token-mean")
def token_mean(
    values: Tensor,
    mask: Tensor,
    *,
    num_tokens: int | float | Tensor | None = None,
    num_sequences: int | float | Tensor | None = None,
) -> Tensor:
    """``sum(values * mask) / num_tokens``; ``num_tokens`` defaults to ``sum(mask)``."""
    del num_sequences  # token-mean divides by tokens only
    _checks.positive_count(num_tokens, "num_tokens")
    total = masked_values(values, mask).sum()  # []
    if num_tokens is None:
        num_tokens = mask.sum().clamp(min=1)  # [], an all-padding batch gives 0, not NaN
    return total / num_tokens


@_register("seq-mean")
def seq_mean(
    values: Tensor,
    mask: Tensor,
    *,
    num_tokens: int | float | Tensor | None = None,
    num_sequences: int | float | Tensor | None = None,
) -> Tensor:
    """Per-sequence masked mean, then ``sum over sequences / num_sequences`` (default N)."""
    del num_tokens  # per-sequence means divide by each sequence's own length
    _checks.positive_count(num_sequences, "num_sequences")
    lengths = mask.sum(dim=1).clamp(min=1).to(values.dtype)  # [N]
    per_seq = masked_values(values, mask).sum(dim=1) / lengths  # [N]
    if num_sequences is None:
        num_sequences = max(values.shape[0], 1)
    return per_seq.sum() / num_sequences


def constant_length_sum(
    values: Tensor,
    mask: Tensor,
    max_length: int,
    *,
    num_sequences: int | float | Tensor | None = None,
) -> Tensor:
    """Dr. GRPO: ``sum(values * mask) / (max_length * num_sequences)`` (default N sequences).

    The divisor does not depend on any sequence's length, so a token's weight is the same in a
    short answer and a long one.
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= 0:
        raise ValueError(f"max_length must be a positive int, got {max_length!r}")
    _checks.positive_count(num_sequences, "num_sequences")
    if num_sequences is None:
        num_sequences = max(values.shape[0], 1)
    return masked_values(values, mask).sum() / (max_length * num_sequences)


def aggregate(
    values: Tensor,
    mask: Tensor,
    mode: str,
    *,
    num_tokens: int | float | Tensor | None = None,
    num_sequences: int | float | Tensor | None = None,
) -> Tensor:
    """Reduce ``values`` ``[N, T]`` with the registered aggregation ``mode``."""
    _checks.choice(mode, AGGREGATIONS, "aggregation")
    return AGGREGATIONS[mode](values, mask, num_tokens=num_tokens, num_sequences=num_sequences)
