"""The tensor-only algorithm core: group advantages, GPG's alpha, and policy losses.

GPG (Chu et al. 2025, arXiv 2504.02546) is the method; GRPO (arXiv 2402.03300) and Dr. GRPO
(arXiv 2503.20783) are registered baselines. No model, data or distributed code lives here:
callers pass tensors (and all-reduced counts) and get tensors or floats back.

Typical step (one rank; across ranks all-reduce the counts and use ``alpha_from_counts``)::

    adv = get_advantage_estimator("gpg")(rewards, group_size)          # [N]
    alpha = gpg_alpha(rewards, group_size)                               # float
    loss_fn = get_policy_loss("gpg")                                     # PolicyLoss
    loss, metrics = loss_fn(logprobs, adv, mask, alpha=alpha)            # scalar, dict
"""
from gpg_vl.algorithms.advantages import (
    ADVANTAGE_ESTIMATORS,
    STD_EPS,
    alpha_from_counts,
    degenerate_group_mask,
    get_advantage_estimator,
    gpg_alpha,
    group_advantages,
    register_advantage_estimator,
    valid_fraction,
)
from gpg_vl.algorithms.aggregation import AGGREGATIONS, aggregate
from gpg_vl.algorithms.losses import (
    POLICY_LOSSES,
    PolicyLoss,
    get_policy_loss,
    gpg_loss,
    register_policy_loss,
)

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AGGREGATIONS",
    "POLICY_LOSSES",
    "STD_EPS",
    "PolicyLoss",
    "aggregate",
    "alpha_from_counts",
    "degenerate_group_mask",
    "get_advantage_estimator",
    "get_policy_loss",
    "gpg_alpha",
    "gpg_loss",
    "group_advantages",
    "register_advantage_estimator",
    "register_policy_loss",
    "valid_fraction",
]
