"""Group advantages, GPG's gradient-correction factor alpha, and the valid-sample fraction.

For each prompt the trainer samples a group of G completions and scores each with a verifier.
Rewards arrive flat, ``[num_groups * G]``, each group contiguous (sample ``g * G + i`` is the
i-th completion of prompt ``g``). All functions here are pure tensor code.

References
- GPG: Chu et al. 2025, "GPG: A Simple and Strong Reinforcement Learning Baseline for Model
  Reasoning", arXiv 2504.02546. Advantage A_i = (r_i - mean(r_group)) / F_norm with F_norm = 1
  or std (the advantage of the GPG objective J_GPG); the corrected gradient estimate scales the
  batch gradient by alpha = B / (B - M), M = samples in zero-variance groups ("accurate gradient
  estimation"); beta_th is the threshold on the fraction of valid samples, (B - M) / B.
- GRPO: Shao et al. 2024, DeepSeekMath, arXiv 2402.03300, Sec. 4.1.2: outcome supervision,
  A_i = (r_i - mean(r)) / std(r).
- Dr. GRPO: Liu et al. 2025, "Understanding R1-Zero-Like Training", arXiv 2503.20783: drop the
  std division (it up-weights too-easy and too-hard prompts), keep A_i = r_i - mean(r).
"""
from __future__ import annotations

import torch
from torch import Tensor

from gpg_vl.algorithms import _checks

STD_EPS = 1e-4
"""Added to the group std before dividing. 1e-4 is what the paper's code uses: its trainers are
forks of open-r1 / TRL's GRPOTrainer, which compute ``(rewards - mean) / (std + 1e-4)`` with the
unbiased std. With it a zero-variance group gets advantage 0 / 1e-4 = 0 instead of 0 / 0."""

SCALES = ("none", "std")


def group_advantages(
    rewards: Tensor, group_size: int, scale: str = "none", eps: float = STD_EPS
) -> Tensor:
    """Mean-centred group advantages, optionally divided by the group std.

    GPG paper (arXiv 2504.02546), advantage of the GPG objective:
    ``A_i = (r_i - mean({r_j}_{j in group})) / F_norm``, ``F_norm = 1`` (``scale="none"``, the
    paper's default) or the group's unbiased std plus ``eps`` (``scale="std"``).

    Args:
        rewards: ``[num_groups * group_size]``, each group contiguous.
        group_size: G, completions per prompt (>= 2).
        scale: ``"none"`` or ``"std"``.
        eps: added to the std when ``scale="std"``; must be > 0 so that zero-variance groups
            give advantage 0 rather than NaN. See ``STD_EPS``.

    Returns:
        ``[num_groups * group_size]`` advantages, same order as ``rewards``. Zero-variance groups
        get exactly 0.
    """
    _checks.choice(scale, SCALES, "scale")
    grouped = _checks.grouped_rewards(rewards, group_size)  # [num_groups, G]
    centred = grouped - grouped.mean(dim=1, keepdim=True)  # [num_groups, G]
    if scale == "std":
        if not eps > 0:
            raise ValueError(f"eps must be > 0 with scale='std', got {eps!r}")
        std = grouped.std(dim=1, keepdim=True)  # [num_groups, 1], unbiased (divides by G - 1)
        centred = centred / (std + eps)  # [num_groups, G]
    # A zero-variance group has no signal, but float32's mean of equal rewards is rounded
    # (eight 0.2s average to 0.2 + 1.5e-8): set its advantages to exactly 0, so that the
    # trainer can skip its rows and alpha's M counts exactly the rows that carry no gradient.
    degenerate = (grouped.amax(dim=1) == grouped.amin(dim=1))[:, None]  # [num_groups, 1]
    centred = torch.where(degenerate, torch.zeros_like(centred), centred)  # [num_groups, G]
    return centred.reshape(-1)  # [num_groups * G]


def degenerate_group_mask(rewards: Tensor, group_size: int) -> Tensor:
    """Which groups have all-equal rewards (zero variance, hence zero advantage and gradient).

    Equality is exact (``max == min``): verifier rewards are discrete or deterministic.
    Groups must not be split across ranks; each rank passes whole groups.

    Returns:
        bool ``[num_groups]``, True where every reward in the group is the same.
    """
    grouped = _checks.grouped_rewards(rewards, group_size)  # [num_groups, G]
    return grouped.amax(dim=1) == grouped.amin(dim=1)  # [num_groups]


def alpha_from_counts(num_samples: int | Tensor, num_degenerate_samples: int | Tensor) -> float:
    """GPG's gradient-correction factor from (possibly all-reduced) counts.

    GPG paper (arXiv 2504.02546), accurate gradient estimation: ``alpha = B / (B - M)``, B the
    number of samples in the batch and M those in zero-variance groups. Those M samples add
    nothing to the summed gradient but still count in the average, so the estimate is shrunk
    by (B - M) / B; alpha undoes that.

    For the global batch across ranks, all-reduce ``B`` and ``M`` (sum), then call this.

    Returns:
        ``B / (B - M)`` as a float, >= 1. When every sample is degenerate (M == B) the step
        carries no gradient at all and this returns 1.0; the trainer skips the optimizer step.
    """
    b, m = int(num_samples), int(num_degenerate_samples)
    if b <= 0:
        raise ValueError(f"num_samples must be > 0, got {b}")
    if not 0 <= m <= b:
        raise ValueError(f"num_degenerate_samples must be in [0, num_samples={b}], got {m}")
    if m == b:
        return 1.0
    return b / (b - m)


def gpg_alpha(rewards: Tensor, group_size: int) -> float:
    """``alpha = B / (B - M)`` for the batch ``rewards`` (see ``alpha_from_counts``).

    Use this on one process; across ranks all-reduce the counts and call ``alpha_from_counts``.
    """
    degenerate = degenerate_group_mask(rewards, group_size)  # [num_groups]
    num_degenerate = int(degenerate.sum()) * group_size
    return alpha_from_counts(rewards.numel(), num_degenerate)


def valid_fraction(rewards: Tensor, group_size: int) -> float:
    """Fraction of samples in groups with non-zero reward variance, ``(B - M) / B``.

    GPG paper (arXiv 2504.02546): with threshold beta_th the trainer keeps drawing prompts until
    this fraction reaches beta_th (the paper's best setting uses beta_th = 0.6). Also worth
    logging every step.
    """
    degenerate = degenerate_group_mask(rewards, group_size)  # [num_groups]
    num_samples = rewards.numel()
    return (num_samples - int(degenerate.sum()) * group_size) / num_samples


# --- each algorithm's advantage function (``registry.py`` pairs it with the loss) -------------


def gpg_advantages(
    rewards: Tensor, group_size: int, *, scale: str = "none", eps: float = STD_EPS
) -> Tensor:
    """GPG (arXiv 2504.02546): mean-centred, ``F_norm`` = 1 by default or the std."""
    return group_advantages(rewards, group_size, scale=scale, eps=eps)


def grpo_advantages(rewards: Tensor, group_size: int, *, eps: float = STD_EPS) -> Tensor:
    """GRPO (arXiv 2402.03300, Sec. 4.1.2): mean-centred and divided by the group std."""
    return group_advantages(rewards, group_size, scale="std", eps=eps)


def dr_grpo_advantages(rewards: Tensor, group_size: int) -> Tensor:
    """Dr. GRPO (arXiv 2503.20783): mean-centred, no std division."""
    return group_advantages(rewards, group_size, scale="none")
