"""Policy losses: GPG, plus GRPO and Dr. GRPO as baselines for side-by-side runs.

Tensors (N completions, T completion-token positions):
- ``logprobs`` ``[N, T]``: log pi_theta of each sampled token, carrying the gradient.
- ``advantages`` ``[N]``: one per completion (see ``advantages.py``); detached here.
- ``mask`` ``[N, T]``: bool or 0/1, true on completion tokens; padded positions may hold
  anything (they are zeroed with ``torch.where`` before any arithmetic).
- ``old_logprobs`` / ``ref_logprobs`` ``[N, T]``: behaviour policy and reference model; detached.
Arithmetic runs in float32 whatever the input dtype.

Return conventions
- ``gpg_loss(...)`` is the plain building block: it returns the scalar loss tensor.
- Every algorithm's loss is a ``PolicyLoss`` (``registry.py`` holds one record per algorithm)
  with one call signature::

      loss, metrics = get_algorithm(name).loss(
          logprobs, advantages, mask, alpha=1.0, num_tokens=None, num_sequences=None,
          old_logprobs=None, ref_logprobs=None, **hparams)

  ``loss`` is the scalar to backprop; ``metrics`` is a dict of detached 0-dim tensors averaged
  over this call's valid tokens (no ``.item()``, so no device sync; the trainer reduces and
  logs them). ``requires_old_logprobs`` / ``requires_reference`` say which extra forward passes
  the trainer must run: GPG needs neither. ``alpha`` scales every loss (1.0 = no correction),
  so GPG's B / (B - M) can also be ablated on the baselines. ``num_tokens`` / ``num_sequences``
  are the global normalisers for gradient accumulation (see ``aggregation.py``). Unknown
  ``hparams`` raise TypeError naming the key; ``hparam_names`` lists the accepted ones.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from gpg_vl.algorithms import _checks
from gpg_vl.algorithms.aggregation import (
    aggregate,
    constant_length_sum,
    masked_values,
    seq_mean,
    token_mean,
)

Count = int | float | Tensor | None
GPG_AGGREGATIONS = ("token-mean", "seq-mean")
_RUNTIME_KWARGS = ("alpha", "num_tokens", "num_sequences", "old_logprobs", "ref_logprobs")


def gpg_loss(
    logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    alpha: float = 1.0,
    aggregation: str = "token-mean",
    num_tokens: Count = None,
    num_sequences: Count = None,
) -> Tensor:
    """The GPG loss: plain policy gradient, no ratio, no clipping, no KL.

    GPG paper (arXiv 2504.02546), the GPG objective J_GPG with the corrected gradient estimate:
    ``loss = -alpha * sum_{i,t} A_i * logp_{i,t} * mask_{i,t} / sum_i |o_i|``. Its gradient
    w.r.t. ``logprobs`` is ``-alpha * A_i * mask_{i,t} / num_tokens``: a positive advantage
    raises the sampled tokens' log-probabilities.

    Args:
        alpha: ``gpg_alpha`` / ``alpha_from_counts``, B / (B - M); 1.0 disables the correction.
        aggregation: ``"token-mean"`` (the paper: divide by the batch's completion tokens) or
            ``"seq-mean"`` (masked mean per sequence, then mean over sequences).
        num_tokens: token-mean divisor, the GLOBAL count of completion tokens when the batch is
            split over micro-batches or ranks; None = ``sum(mask)`` of this call.
        num_sequences: seq-mean divisor, the global number of sequences; None = N.

    Returns:
        Scalar loss tensor.
    """
    _checks.policy_inputs(logprobs, advantages, mask)
    _checks.choice(aggregation, GPG_AGGREGATIONS, "aggregation")
    _checks.positive_count(alpha, "alpha")
    logprobs = masked_values(logprobs.float(), mask)  # [N, T]
    weighted = advantages.detach().float()[:, None] * logprobs  # [N, T]
    reduced = aggregate(
        weighted, mask, aggregation, num_tokens=num_tokens, num_sequences=num_sequences
    )
    return -alpha * reduced


# --- registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyLoss:
    """A registered policy loss: the function plus what the trainer must feed it."""

    name: str
    fn: Callable[..., tuple[Tensor, dict[str, Tensor]]]
    requires_old_logprobs: bool
    """True if the loss has an importance ratio, hence needs the behaviour policy's logprobs."""
    requires_reference: bool
    """True if the loss has a KL term to a frozen reference model."""

    @property
    def hparam_names(self) -> tuple[str, ...]:
        """Hyperparameters this loss accepts as keywords (for config validation)."""
        params = inspect.signature(self.fn).parameters.values()
        return tuple(
            p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in _RUNTIME_KWARGS
        )

    def __call__(
        self,
        logprobs: Tensor,
        advantages: Tensor,
        mask: Tensor,
        *,
        alpha: float = 1.0,
        num_tokens: Count = None,
        num_sequences: Count = None,
        old_logprobs: Tensor | None = None,
        ref_logprobs: Tensor | None = None,
        **hparams,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        unknown = sorted(set(hparams) - set(self.hparam_names))
        if unknown:
            raise TypeError(
                f"policy loss {self.name!r} got unknown hyperparameter(s) {unknown}; "
                f"it accepts {list(self.hparam_names)}"
            )
        if self.requires_old_logprobs and old_logprobs is None:
            raise ValueError(f"policy loss {self.name!r} needs old_logprobs")
        if self.requires_reference and ref_logprobs is None:
            raise ValueError(f"policy loss {self.name!r} needs ref_logprobs")
        _checks.policy_inputs(
            logprobs, advantages, mask, old_logprobs=old_logprobs, ref_logprobs=ref_logprobs
        )
        _checks.positive_count(alpha, "alpha")
        return self.fn(
            logprobs, advantages, mask, alpha=alpha, num_tokens=num_tokens,
            num_sequences=num_sequences, old_logprobs=old_logprobs, ref_logprobs=ref_logprobs,
            **hparams,
        )


def policy_loss(
    name: str, *, requires_old_logprobs: bool, requires_reference: bool
) -> Callable[[Callable], PolicyLoss]:
    """Decorator: wrap ``fn`` in a ``PolicyLoss`` (an algorithm record in ``registry.py`` names it).

    ``fn`` takes ``(logprobs, advantages, mask, *, alpha, num_tokens, num_sequences,
    old_logprobs, ref_logprobs, <hyperparameters with defaults>)`` and returns
    ``(loss, metrics)``; inputs arrive already shape-checked.
    """

    def wrap(fn: Callable) -> PolicyLoss:
        return PolicyLoss(name, fn, requires_old_logprobs, requires_reference)

    return wrap


# --- the losses -------------------------------------------------------------------------------


@policy_loss("gpg", requires_old_logprobs=False, requires_reference=False)
def gpg_policy_loss(
    logprobs, advantages, mask, *, alpha, num_tokens, num_sequences, old_logprobs, ref_logprobs,
    aggregation: str = "token-mean",
) -> tuple[Tensor, dict[str, Tensor]]:
    """GPG (arXiv 2504.02546): ``gpg_loss``; no metrics of its own."""
    del old_logprobs, ref_logprobs  # on-policy REINFORCE: no ratio, no reference, no KL
    loss = gpg_loss(
        logprobs, advantages, mask, alpha=alpha, aggregation=aggregation,
        num_tokens=num_tokens, num_sequences=num_sequences,
    )
    return loss, {}


def _clipped_surrogate(
    logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, eps_low: float, eps_high: float
) -> tuple[Tensor, Tensor]:
    """PPO's ``min(r * A, clip(r, 1 - eps_low, 1 + eps_high) * A)``, ``r = exp(logp - old)``.

    Returns the surrogate ``[N, T]`` and a bool ``[N, T]`` that is True where the clipped branch
    is strictly smaller, i.e. where the token gets no gradient.
    """
    if not (0.0 <= eps_low < 1.0 and eps_high >= 0.0):
        raise ValueError(
            f"need 0 <= clip_eps_low < 1 and clip_eps_high >= 0, got {eps_low}, {eps_high}"
        )
    ratio = torch.exp(logprobs - old_logprobs)  # [N, T]
    adv = advantages.detach().float()[:, None]  # [N, 1]
    unclipped = ratio * adv  # [N, T]
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv  # [N, T]
    return torch.minimum(unclipped, clipped), clipped < unclipped  # [N, T], [N, T]


@policy_loss("grpo", requires_old_logprobs=True, requires_reference=True)
def grpo_policy_loss(
    logprobs, advantages, mask, *, alpha, num_tokens, num_sequences, old_logprobs, ref_logprobs,
    clip_eps_low: float = 0.2, clip_eps_high: float = 0.2, kl_beta: float = 0.04,
) -> tuple[Tensor, dict[str, Tensor]]:
    """GRPO baseline, DeepSeekMath (arXiv 2402.03300) Eq. 3, negated into a loss.

    ``J = 1/G sum_i 1/|o_i| sum_t [min(r A, clip(r, 1-eps, 1+eps) A) - beta * D_KL]`` with the
    KL estimated per token by k3, Eq. 4: ``exp(ref - logp) - (ref - logp) - 1`` (>= 0, unbiased).
    Per-sequence mean then mean over sequences. Defaults: beta = 0.04 (DeepSeekMath's KL
    coefficient), eps = 0.2 (PPO's usual). ``clip_eps_high`` > ``clip_eps_low`` gives DAPO's
    "clip-higher".

    Metrics: ``clip_fraction`` (valid tokens on the clipped branch), ``kl`` (mean k3).
    """
    del num_tokens  # GRPO averages per sequence
    logprobs = masked_values(logprobs.float(), mask)  # [N, T]
    old = masked_values(old_logprobs.detach().float(), mask)  # [N, T]
    ref = masked_values(ref_logprobs.detach().float(), mask)  # [N, T]
    surrogate, is_clipped = _clipped_surrogate(
        logprobs, old, advantages, clip_eps_low, clip_eps_high
    )  # [N, T], [N, T]
    log_ref_ratio = ref - logprobs  # [N, T]
    kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1.0  # [N, T], k3 estimator, Eq. 4
    objective = surrogate - kl_beta * kl  # [N, T]
    loss = -alpha * seq_mean(objective, mask, num_sequences=num_sequences)
    metrics = {
        "clip_fraction": token_mean(is_clipped.float(), mask).detach(),
        "kl": token_mean(kl, mask).detach(),
    }
    return loss, metrics


@policy_loss("dr_grpo", requires_old_logprobs=True, requires_reference=False)
def dr_grpo_policy_loss(
    logprobs, advantages, mask, *, alpha, num_tokens, num_sequences, old_logprobs, ref_logprobs,
    clip_eps_low: float = 0.2, clip_eps_high: float = 0.2,
    max_completion_length: int | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Dr. GRPO baseline (Liu et al., arXiv 2503.20783, "GRPO done right"), negated.

    GRPO's clipped surrogate without the 1/|o_i| length normalisation (and without std in the
    advantage, see ``dr_grpo_advantages``): each sequence's token sum is divided by the
    constant ``max_completion_length``, then averaged over sequences, i.e.
    ``loss = -alpha * sum(surrogate * mask) / (max_completion_length * N)``. Registered
    without a KL term, so it needs no reference model (GRPO's ``kl_beta`` covers KL runs).

    Args:
        max_completion_length: the generation cap; pass it from the config. None falls back to
            T, which is only constant if completions are padded to the cap.

    Metrics: ``clip_fraction``.
    """
    del num_tokens, ref_logprobs  # constant normaliser; no KL term
    max_length = logprobs.shape[1] if max_completion_length is None else max_completion_length
    logprobs = masked_values(logprobs.float(), mask)  # [N, T]
    old = masked_values(old_logprobs.detach().float(), mask)  # [N, T]
    surrogate, is_clipped = _clipped_surrogate(
        logprobs, old, advantages, clip_eps_low, clip_eps_high
    )  # [N, T], [N, T]
    loss = -alpha * constant_length_sum(surrogate, mask, max_length, num_sequences=num_sequences)
    return loss, {"clip_fraction": token_mean(is_clipped.float(), mask).detach()}
