"""Range and finiteness checks on config values, each a one-line error naming the key.

A value that passes the type check can still crash a run hours in (``train.lr=inf`` blows the
weights up, then sampling dies) or make it a silent no-op (``rollout.temperature=0`` samples one
completion G times, so every group is degenerate and no step updates). These checks run when the
config is built (:func:`check_values`) and, for what depends on the launch, at run start before
anything loads (:func:`check_launch`).
"""
from __future__ import annotations

import math
import os

from gpg_vl.errors import ConfigError

# AdamW steps move each weight by about lr; above 1 a single step replaces the weights.
MAX_LR = 1.0
MAX_TEMPERATURE = 100.0


def _finite(key: str, value: float) -> None:
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value}")


def _in_range(key: str, value, low=None, high=None, *, low_open=False, high_open=False) -> None:
    """``value`` finite (for floats) and within [low, high] (or open ends)."""
    if isinstance(value, float):
        _finite(key, value)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ConfigError(f"{key} must be in {'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}, "
                         f"got {value}")


def check_values(cfg) -> None:
    """Every numeric setting in a range where the run does what the key says."""
    check_model(cfg.model)
    check_data(cfg.data)
    check_rollout(cfg.rollout)
    check_rewards(cfg.rewards)
    check_warmup(cfg.warmup)
    check_train(cfg.train)


def check_model(m) -> None:
    for key in ("min_pixels", "max_pixels"):
        if getattr(m, key) is not None:
            _in_range(f"model.{key}", getattr(m, key), 1)
    if m.min_pixels is not None and m.max_pixels is not None and m.min_pixels > m.max_pixels:
        raise ConfigError(f"model.min_pixels ({m.min_pixels}) must be <= model.max_pixels ({m.max_pixels})")
    if m.lora.enabled:
        _in_range("model.lora.r", m.lora.r, 1)
        _in_range("model.lora.dropout", m.lora.dropout, 0.0, 1.0, high_open=True)
        if not m.lora.target_modules:
            raise ConfigError("model.lora.target_modules must name at least one module")


def check_data(d) -> None:
    _in_range("data.max_image_pixels", d.max_image_pixels, 1)
    if d.limit is not None:
        _in_range("data.limit", d.limit, 1)


def check_rollout(r) -> None:
    _in_range("rollout.temperature", r.temperature, 0.0, MAX_TEMPERATURE, low_open=True)
    _in_range("rollout.top_p", r.top_p, 0.0, 1.0, low_open=True)


def check_rewards(rewards) -> None:
    for i, spec in enumerate(rewards):
        _finite(f"rewards[{i}].weight", spec.weight)
        if spec.tasks is not None and not spec.tasks:
            raise ConfigError(f"rewards[{i}].tasks must name at least one task: [] applies the reward to no sample "
                             "(leave it out, or null, to apply it to every task)")


def check_warmup(w) -> None:
    _in_range("warmup.steps", w.steps, 0)
    if w.steps:
        _in_range("warmup.lr", w.lr, 0.0, MAX_LR, low_open=True)
        _in_range("warmup.batch_size", w.batch_size, 1)


def check_train(t) -> None:
    _in_range("train.lr", t.lr, 0.0, MAX_LR, low_open=True)
    if t.vision_lr is not None:
        _in_range("train.vision_lr", t.vision_lr, 0.0, MAX_LR, low_open=True)
    _in_range("train.weight_decay", t.weight_decay, 0.0)
    if len(t.adam_betas) != 2:
        raise ConfigError(f"train.adam_betas must be two numbers, got {t.adam_betas}")
    for i, beta in enumerate(t.adam_betas):
        _in_range(f"train.adam_betas[{i}]", float(beta), 0.0, 1.0, high_open=True)
    _in_range("train.max_grad_norm", t.max_grad_norm, 0.0)
    for key in ("warmup_steps", "save_every", "eval_every", "keep_last"):
        _in_range(f"train.{key}", getattr(t, key), 0)
    for key in ("log_every", "max_consecutive_skips", "max_no_update_steps"):
        _in_range(f"train.{key}", getattr(t, key), 1)
    if t.eval_limit is not None:
        _in_range("train.eval_limit", t.eval_limit, 1)


def launch_processes() -> int:
    """Processes of this launch, read from the launcher's environment (torchrun / accelerate set
    WORLD_SIZE) so that it is known before the accelerator or any weights exist."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def check_launch(cfg, num_processes: int | None = None) -> None:
    """What only a training run needs, checked before any data or weights load."""
    n = launch_processes() if num_processes is None else num_processes
    per_step = cfg.train.prompts_per_step
    if per_step % n:
        raise ConfigError(f"train.prompts_per_step={per_step} is not divisible by the {n} processes of this "
                         f"launch (each takes the same share); use a multiple of {n}")
    if not cfg.rewards:
        raise ConfigError("rewards is empty: list at least one reward (e.g. rewards=[{name: format}]); "
                         "without one every step is skipped")
    if not cfg.train.output_dir:
        raise ConfigError("train.output_dir is required: the folder for metrics, checkpoints and final/ "
                         "(e.g. train.output_dir=runs/my-run)")
