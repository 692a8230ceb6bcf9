"""Input validation shared by the algorithm core.

Every public function checks its tensors here before doing arithmetic, so a wrong shape fails
with a message naming the argument instead of broadcasting into a silently wrong loss
(e.g. advantages shaped ``[N, 1]`` against logprobs ``[N, T]`` would broadcast fine and hide a
transposed batch).
"""
from __future__ import annotations

import torch
from torch import Tensor


def grouped_rewards(rewards: Tensor, group_size: int) -> Tensor:
    """Check ``rewards`` ``[num_groups * G]`` and return a float view shaped ``[num_groups, G]``."""
    if not isinstance(rewards, Tensor):
        raise TypeError(f"rewards must be a torch.Tensor, got {type(rewards).__name__}")
    if rewards.ndim != 1:
        raise ValueError(
            f"rewards must be 1-D [num_groups * group_size], got shape {tuple(rewards.shape)}"
        )
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2:
        raise ValueError(
            f"group_size must be an int >= 2 (a group of one has no baseline), got {group_size!r}"
        )
    n = rewards.numel()
    if n == 0 or n % group_size != 0:
        raise ValueError(
            f"{n} rewards are not a whole number of groups of group_size={group_size}"
        )
    if not rewards.is_floating_point():
        rewards = rewards.to(torch.get_default_dtype())
    if not bool(torch.isfinite(rewards).all()):
        raise ValueError("rewards must be finite (a verifier returned NaN or inf)")
    return rewards.reshape(-1, group_size)  # [num_groups, G]


def policy_inputs(
    logprobs: Tensor, advantages: Tensor, mask: Tensor, **per_token: Tensor | None
) -> None:
    """Check ``logprobs``/``mask`` ``[N, T]``, ``advantages`` ``[N]``, and any extra ``[N, T]``.

    Shapes must match exactly; nothing is allowed to broadcast.
    """
    if not isinstance(logprobs, Tensor) or logprobs.ndim != 2:
        shape = tuple(logprobs.shape) if isinstance(logprobs, Tensor) else type(logprobs).__name__
        raise ValueError(f"logprobs must be a 2-D tensor [N, T], got {shape}")
    if not logprobs.is_floating_point():
        raise ValueError(f"logprobs must be floating point, got {logprobs.dtype}")
    n = logprobs.shape[0]
    if not isinstance(advantages, Tensor) or tuple(advantages.shape) != (n,):
        shape = (
            tuple(advantages.shape) if isinstance(advantages, Tensor) else type(advantages).__name__
        )
        raise ValueError(f"advantages must have shape [N] = ({n},), got {shape}")
    tensors = {"mask": mask, **per_token}
    for name, tensor in tensors.items():
        if tensor is None:
            continue
        if not isinstance(tensor, Tensor) or tensor.shape != logprobs.shape:
            shape = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
            raise ValueError(
                f"{name} must have the shape of logprobs {tuple(logprobs.shape)}, got {shape}"
            )


def positive_count(value: int | float | Tensor | None, name: str) -> None:
    """Check a positive scalar passed by the caller (a global count, alpha); None passes."""
    if value is None or isinstance(value, Tensor):
        return  # a tensor count comes from an all-reduce; checking it would force a device sync
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number or None, got {value!r}")


def choice(value: str, choices, name: str) -> None:
    """Check that a string option is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {sorted(choices)}")
