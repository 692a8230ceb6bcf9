"""The tensor-only algorithm core: group advantages, GPG's alpha, and policy losses.

GPG (Chu et al. 2025, arXiv 2504.02546) is the method; GRPO (arXiv 2402.03300) and Dr. GRPO
(arXiv 2503.20783) are registered baselines. No model, data or distributed code lives here:
callers pass tensors (and all-reduced counts) and get tensors or floats back.

Typical step (one rank; across ranks all-reduce the counts and use ``alpha_from_counts``)::

    algo = get_algorithm("gpg")                                          # the record
    options = algo.resolve({"adv_scale": "std"})                         # typed options
    adv = algo.advantages(rewards, group_size, options)                  # [N]
    alpha = gpg_alpha(rewards, group_size)                               # float
    loss, metrics = algo.loss(logprobs, adv, mask, alpha=alpha,
                              **algo.loss_kwargs(options, max_len))      # scalar, dict
"""
from gpg_vl.algorithms.advantages import (
    STD_EPS,
    alpha_from_counts,
    degenerate_group_mask,
    gpg_alpha,
    group_advantages,
    valid_fraction,
)
from gpg_vl.algorithms.aggregation import AGGREGATIONS, aggregate
from gpg_vl.algorithms.losses import PolicyLoss, gpg_loss
from gpg_vl.algorithms.registry import (
    ALGORITHMS,
    Algorithm,
    get_advantage_estimator,
    get_algorithm,
    get_policy_loss,
    register_algorithm,
)

__all__ = [
    "AGGREGATIONS",
    "ALGORITHMS",
    "Algorithm",
    "PolicyLoss",
    "STD_EPS",
    "aggregate",
    "alpha_from_counts",
    "degenerate_group_mask",
    "get_advantage_estimator",
    "get_algorithm",
    "get_policy_loss",
    "gpg_alpha",
    "gpg_loss",
    "group_advantages",
    "register_algorithm",
    "valid_fraction",
]
