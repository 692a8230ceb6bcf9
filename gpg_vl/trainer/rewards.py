"""Score phase: weighted verifier components -> one scalar reward per completion.

Every component is called by keyword as TRL 1.16's ``GRPOTrainer._calculate_rewards`` calls a
reward function: ``prompts``, ``completions``, ``completion_ids`` (each completion's token ids,
up to and including its end token), every dataset column as a list aligned with the
completions (``images`` excepted), ``trainer_state`` (a ``transformers.TrainerState``),
``log_extra`` and ``log_metric``. For conversational rows (a ``prompt`` list of messages, TRL's
conversational format) ``prompts`` are those message lists and each completion is
``[{"role": "assistant", "content": text}]``; otherwise both are strings.

A component restricted to some tasks (``RewardSpec.tasks``) gives None ("not applicable")
elsewhere; None keeps TRL's meaning: NaN in the component, left out of the total, which is the
weighted sum of the applicable components (TRL's nansum rule).
"""
from __future__ import annotations

import logging
import math
from collections import defaultdict

import torch

from gpg_vl.config import RewardSpec
from gpg_vl.errors import ConfigError

NON_COLUMNS = ("images", "prompt", "completion", "completion_ids")  # TRL passes these otherwise, or not at all

logger = logging.getLogger(__name__)


def completion_id_lists(completion_ids: torch.Tensor, completion_mask: torch.Tensor) -> list[list[int]]:
    """Each completion's token ids [N][len_i] without padding (TRL's ``completion_ids`` list)."""
    return [row[m.bool()].tolist() for row, m in zip(completion_ids, completion_mask)]


def is_conversational(samples: list[dict]) -> bool:
    """TRL's test: the prompt is a list of messages."""
    prompt = samples[0].get("prompt") if samples else None
    return isinstance(prompt, list) and bool(prompt) and isinstance(prompt[0], dict) and "role" in prompt[0]


def _trainer_state():
    from transformers import TrainerState

    return TrainerState(global_step=0, max_steps=0)


class RewardModel:
    """The configured reward components, built once."""

    def __init__(self, specs: list[RewardSpec], box_frame: str):
        from gpg_vl.verifiers import get_verifier

        if not specs:
            raise ConfigError("config has no rewards: list at least one verifier under `rewards:`")
        self.specs = specs
        self.box_frame = box_frame
        self.fns = [get_verifier(s.name, **s.options) for s in specs]
        self.names = [s.name if specs.count(s) == 1 else f"{s.name}#{i}" for i, s in enumerate(specs)]
        if len(set(self.names)) != len(self.names):
            self.names = [f"{s.name}#{i}" for i, s in enumerate(specs)]
        self.trainer_state = _trainer_state()
        self.pending_metrics: dict[str, list[float]] = defaultdict(list)  # log_metric, averaged per step
        self.pending_extra: dict[str, list] = defaultdict(list)  # log_extra columns of the samples table
        self.last_batch: dict | None = None  # the latest scored batch, for the samples table
        self._warned_all_none = False

    def begin_step(self, step: int, total_steps: int) -> None:
        """``trainer_state`` as TRL holds it while scoring step ``step`` (1-based): steps done so far."""
        self.trainer_state.global_step = step - 1
        self.trainer_state.max_steps = total_steps

    def log_metric(self, name: str, value: float) -> None:
        """TRL's ``log_metric`` keyword: a scalar averaged into this step's metrics."""
        self.pending_metrics[name].append(float(value))

    def log_extra(self, column: str, values: list) -> None:
        """TRL's ``log_extra`` keyword: an extra column of the samples table."""
        self.pending_extra[column].extend(values)

    def drain_metrics(self) -> dict[str, float]:
        """The step's ``log_metric`` means (cleared)."""
        out = {k: sum(v) / len(v) for k, v in self.pending_metrics.items() if v}
        self.pending_metrics.clear()
        return out

    def columns(self, samples: list[dict]) -> dict[str, list]:
        """Dataset columns as aligned lists; the model family's box frame fills `box_format`."""
        keys = sorted({k for s in samples for k in s if k not in NON_COLUMNS})
        cols = {k: [s.get(k) for s in samples] for k in keys}
        cols["box_format"] = [s.get("box_format") or self.box_frame for s in samples]
        return cols

    def score(self, prompts: list, completions: list[str], samples: list[dict],
              completion_ids: list[list[int]] | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total rewards [N] and each component's per-item values [N] (NaN: not applicable)."""
        cols = self.columns(samples)
        if is_conversational(samples):
            prompts = [s["prompt"] for s in samples]
            completions = [[{"role": "assistant", "content": c}] for c in completions]
        per_row = {**cols, "completion_ids": completion_ids or [None] * len(completions)}
        shared = {"trainer_state": self.trainer_state, "log_extra": self.log_extra, "log_metric": self.log_metric}
        tasks = cols.get("task", [None] * len(samples))
        total = torch.zeros(len(completions), dtype=torch.float32)  # [N]
        parts = {}
        for name, spec, fn in zip(self.names, self.specs, self.fns):
            # Each verifier sees only the rows its spec applies to; the rest are "not applicable".
            rows = [i for i, t in enumerate(tasks) if spec.tasks is None or t in spec.tasks]
            comp = torch.full((len(completions),), math.nan)  # [N]
            if rows:
                values = fn(prompts=[prompts[i] for i in rows], completions=[completions[i] for i in rows],
                            **{k: [v[i] for i in rows] for k, v in per_row.items()}, **shared)
                for i, v in zip(rows, values):
                    if v is not None and math.isfinite(v):
                        comp[i] = float(v)
            parts[name] = comp
            total += spec.weight * torch.nan_to_num(comp, nan=0.0)
        self._warn_if_all_none(parts, samples)
        self.last_batch = {"prompts": prompts, "completions": completions, "rewards": total,
                           "parts": parts, "samples": samples}
        return total, parts

    def _warn_if_all_none(self, parts: dict[str, torch.Tensor], samples: list[dict]) -> None:
        """TRL warns when every component returned None for a row: it then has no reward at all."""
        if self._warned_all_none or not parts:
            return
        none = torch.stack([torch.isnan(p) for p in parts.values()]).all(dim=0)  # [N]
        if none.any():
            self._warned_all_none = True
            row = samples[int(none.nonzero()[0, 0])]
            logger.warning("every reward component returned None for sample %r (task %r): it scores 0; "
                           "check the rewards' `tasks` lists", row.get("id"), row.get("task"))
