"""Train/inference mismatch of a separate sampler, and its truncated importance correction.

When completions are drawn by an inference engine (vLLM) rather than by the trainer's own
forward, the two compute slightly different token probabilities for the same weights (kernels,
precision, batch shapes), so the update is not quite on-policy. Yao et al. 2025 ("Your efficient
RL framework secretly brings you off-policy RL training") weight each token's policy-gradient
term by the truncated importance ratio min(pi_train / pi_sampler, C) (TIS), as verl
(``tis_imp_ratio_cap``) and TRL (``vllm_importance_sampling_cap``) do.
"""
from __future__ import annotations

import torch
from torch import Tensor


def mismatch_stats(train_logprobs: Tensor, sampler_logprobs: Tensor, mask: Tensor) -> dict[str, float]:
    """Mean and max |log pi_train - log pi_sampler| and the k3 estimate of KL(pi_sampler || pi_train)
    over the masked tokens of ``train_logprobs`` / ``sampler_logprobs`` / ``mask`` [N, C]; also the
    token count (to combine micro-batches). The samples come from pi_sampler, so
    k3 = r - 1 - log r with r = pi_train / pi_sampler estimates KL(sampler || train) (Schulman 2020)."""
    m = mask.bool()
    delta = (train_logprobs.detach().float() - sampler_logprobs.float())[m]  # [K]: log r
    if delta.numel() == 0:
        return {"tokens": 0, "abs_sum": 0.0, "abs_max": 0.0, "k3_sum": 0.0}
    k3 = torch.expm1(delta) - delta  # [K], >= 0
    return {"tokens": int(delta.numel()), "abs_sum": float(delta.abs().sum()),
            "abs_max": float(delta.abs().max()), "k3_sum": float(k3.sum())}


def tis_weights(train_logprobs: Tensor, sampler_logprobs: Tensor, mask: Tensor, cap: float) -> Tensor:
    """min(pi_train / pi_sampler, cap) per token [N, C], detached; 0 where ``mask`` is 0."""
    if cap < 1.0:
        raise ValueError(f"the TIS cap must be >= 1, got {cap}")
    if train_logprobs.shape != sampler_logprobs.shape or train_logprobs.shape != mask.shape:
        raise ValueError(f"train_logprobs {tuple(train_logprobs.shape)}, sampler_logprobs "
                         f"{tuple(sampler_logprobs.shape)} and mask {tuple(mask.shape)} must match")
    log_ratio = (train_logprobs.detach().float() - sampler_logprobs.float()).clamp(max=20.0)  # [N, C]
    return torch.exp(log_ratio).clamp(max=cap) * mask.float()


def importance_weighted(logprobs: Tensor, weights: Tensor) -> Tensor:
    """Log-probs [N, C] whose value is unchanged and whose gradient is ``weights`` [N, C] times theirs.

    w * lp + stop_grad((1 - w) * lp): a loss linear in the log-probs (GPG's policy gradient) then
    follows the TIS gradient sum_t w_t A grad log pi(o_t), while every logged value stays the same.
    """
    w = weights.to(logprobs.dtype)
    return w * logprobs + ((1.0 - w) * logprobs).detach()
