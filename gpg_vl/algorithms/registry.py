"""One record per algorithm: its advantage function, its loss, what it needs, its typed options.

A record is registered once, under its config name (``algorithm.name``). The config checks the
name and the options it sets against the record (an option the algorithm does not take is an
error naming the key), and the trainer reads everything else from it: no branch on names.

Alpha (GPG's B / (B - M), arXiv 2504.02546) is GPG's: on by default for ``gpg`` and off for the
baselines. The paper's code scales the loss by alpha only with ``--adjust_gd``, which its GRPO
runs do not set; ``algorithm.use_alpha`` turns it on or off explicitly for any algorithm.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

from torch import Tensor

from gpg_vl.algorithms import _checks
from gpg_vl.algorithms.advantages import dr_grpo_advantages, gpg_advantages, grpo_advantages
from gpg_vl.algorithms.losses import (
    PolicyLoss,
    dr_grpo_policy_loss,
    gpg_policy_loss,
    grpo_policy_loss,
)


def _check_clip(clip_eps: float) -> None:
    if not 0.0 <= clip_eps < 1.0:
        raise ValueError(f"algorithm.clip_eps must be in [0, 1), got {clip_eps}")


@dataclass(frozen=True)
class GPGOptions:
    """GPG (arXiv 2504.02546)."""

    adv_scale: Literal["none", "std"] = "none"  # F_norm: 1 or the group's std
    aggregation: Literal["token-mean", "seq-mean"] = "token-mean"  # the paper: token-mean
    use_alpha: bool = True  # alpha = B / (B - M)


@dataclass(frozen=True)
class GRPOOptions:
    """GRPO (arXiv 2402.03300): clipped ratio, k3 KL to the reference, std-scaled advantages."""

    clip_eps: float = 0.2
    kl_beta: float = 0.04  # DeepSeekMath's KL coefficient
    use_alpha: bool = False

    def __post_init__(self):
        _check_clip(self.clip_eps)
        if not self.kl_beta >= 0:
            raise ValueError(f"algorithm.kl_beta must be >= 0, got {self.kl_beta}")


@dataclass(frozen=True)
class DrGRPOOptions:
    """Dr. GRPO (arXiv 2503.20783): clipped ratio, no KL, no std, constant length normaliser."""

    clip_eps: float = 0.2
    use_alpha: bool = False

    def __post_init__(self):
        _check_clip(self.clip_eps)


AlgorithmOptions = GPGOptions | GRPOOptions | DrGRPOOptions
"""The typed options of a registered algorithm (its record's ``options`` class)."""


@dataclass(frozen=True)
class Algorithm:
    """A registered algorithm: what the trainer calls and feeds, and its typed options."""

    name: str
    options: type  # a frozen dataclass: the option names, types and defaults
    advantage_fn: Callable[..., Tensor]  # (rewards [N], G, **advantage_kwargs) -> [N]
    advantage_kwargs: Callable[[Any], dict]  # options -> advantage_fn keywords
    loss: PolicyLoss
    loss_kwargs: Callable[[Any, int], dict]  # (options, max_completion_length) -> loss keywords

    @property
    def needs_old_logprobs(self) -> bool:
        return self.loss.requires_old_logprobs

    @property
    def needs_reference(self) -> bool:
        return self.loss.requires_reference

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.options))

    def resolve(self, given: Mapping[str, Any]) -> Any:
        """The typed options from the ones set explicitly (the rest take the record's defaults);
        ValueError naming the key for an option this algorithm does not take."""
        for key in given:
            if key not in self.option_names:
                raise ValueError(f"'algorithm.{key}' is not an option of algorithm {self.name!r} "
                                 f"(its options: {', '.join(self.option_names)}); remove it or set it to null")
        return self.options(**given)

    def advantages(self, rewards: Tensor, group_size: int, options: Any) -> Tensor:
        """``[num_groups * G]`` advantages of ``rewards`` ``[num_groups * G]``."""
        return self.advantage_fn(rewards, group_size, **self.advantage_kwargs(options))


ALGORITHMS: dict[str, Algorithm] = {}


def register_algorithm(algorithm: Algorithm) -> Algorithm:
    """Add ``algorithm`` under its name; a name is registered once."""
    if algorithm.name in ALGORITHMS:
        raise ValueError(f"algorithm {algorithm.name!r} is already registered")
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def get_algorithm(name: str) -> Algorithm:
    """The record called ``name``; ValueError listing the registered names otherwise."""
    _checks.choice(name, ALGORITHMS, "algorithm")
    return ALGORITHMS[name]


register_algorithm(Algorithm(
    "gpg", GPGOptions, gpg_advantages, lambda o: {"scale": o.adv_scale},
    gpg_policy_loss, lambda o, max_len: {"aggregation": o.aggregation}))
register_algorithm(Algorithm(
    "grpo", GRPOOptions, grpo_advantages, lambda o: {},
    grpo_policy_loss, lambda o, max_len: {"clip_eps_low": o.clip_eps, "clip_eps_high": o.clip_eps,
                                          "kl_beta": o.kl_beta}))
register_algorithm(Algorithm(
    "dr_grpo", DrGRPOOptions, dr_grpo_advantages, lambda o: {},
    dr_grpo_policy_loss, lambda o, max_len: {"clip_eps_low": o.clip_eps, "clip_eps_high": o.clip_eps,
                                             "max_completion_length": max_len}))


def get_policy_loss(name: str) -> PolicyLoss:
    """The loss of the algorithm called ``name``."""
    return get_algorithm(name).loss


def get_advantage_estimator(name: str) -> Callable[..., Tensor]:
    """The advantage function of the algorithm called ``name``."""
    return get_algorithm(name).advantage_fn
