"""Truncated importance sampling (Yao et al. 2025) and the sampler mismatch, on hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch

from gpg_vl.algorithms.importance import importance_weighted, mismatch_stats, tis_weights


def test_tis_weights_are_the_capped_ratio_on_hand_values():
    train = torch.tensor([[math.log(0.5), math.log(0.2), math.log(0.9)]])
    sampler = torch.tensor([[math.log(0.25), math.log(0.4), math.log(0.1)]])
    mask = torch.tensor([[1, 1, 0]])
    w = tis_weights(train, sampler, mask, cap=2.0)
    # ratios 2.0, 0.5, 9.0 -> capped at 2: 2.0, 0.5, and 0 where masked
    assert torch.allclose(w, torch.tensor([[2.0, 0.5, 0.0]]), atol=1e-6)
    assert torch.allclose(tis_weights(train, sampler, torch.ones(1, 3), cap=3.0), torch.tensor([[2.0, 0.5, 3.0]]),
                          atol=1e-5)
    with pytest.raises(ValueError, match="cap"):
        tis_weights(train, sampler, mask, cap=0.5)
    with pytest.raises(ValueError, match="must match"):
        tis_weights(train, sampler[:, :2], mask, cap=2.0)


def test_weighted_logprobs_keep_the_value_and_scale_the_gradient():
    lp = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    w = torch.tensor([[2.0, 0.5, 0.0]])
    out = importance_weighted(lp, w)
    assert torch.equal(out.detach(), lp.detach())
    adv = torch.tensor([[3.0, 3.0, 3.0]])
    (-(adv * out).sum()).backward()  # a policy-gradient loss linear in the log-probs
    assert torch.allclose(lp.grad, torch.tensor([[-6.0, -1.5, 0.0]]))  # -A * w per token


def test_mismatch_stats_on_hand_values():
    train = torch.tensor([[0.0, -1.0, -3.0], [-2.0, 0.0, 0.0]])
    sampler = torch.tensor([[-0.5, -1.0, -1.0], [-1.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    s = mismatch_stats(train, sampler, mask)
    # deltas (train - sampler) on masked tokens: 0.5, 0.0, -1.0
    assert s["tokens"] == 3
    assert s["abs_sum"] == pytest.approx(1.5) and s["abs_max"] == pytest.approx(1.0)
    k3 = [math.exp(d) - 1 - d for d in (0.5, 0.0, -1.0)]
    assert s["k3_sum"] == pytest.approx(sum(k3), rel=1e-6)
    assert mismatch_stats(train, sampler, torch.zeros(2, 3))["tokens"] == 0
