"""Score phase: weighted verifier components -> one scalar reward per completion.

Verifiers keep TRL's signature ``f(prompts, completions, **columns) -> list[float | None]``;
each dataset column arrives as a list aligned with the completions. A component restricted to
some tasks (``RewardSpec.tasks``) gives None ("not applicable") elsewhere, and the total is
the weighted sum of the applicable components (TRL's nansum rule).
"""
from __future__ import annotations

import math

import torch

from gpg_vl.config import RewardSpec
from gpg_vl.errors import ConfigError

NON_COLUMNS = ("images",)


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

    def columns(self, samples: list[dict]) -> dict[str, list]:
        """Dataset columns as aligned lists; the model family's box frame fills `box_format`."""
        keys = sorted({k for s in samples for k in s if k not in NON_COLUMNS})
        cols = {k: [s.get(k) for s in samples] for k in keys}
        cols["box_format"] = [s.get("box_format") or self.box_frame for s in samples]
        return cols

    def score(self, prompts: list[str], completions: list[str], samples: list[dict]
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total rewards [N] and each component's per-item values [N] (NaN: not applicable)."""
        cols = self.columns(samples)
        tasks = cols.get("task", [None] * len(samples))
        total = torch.zeros(len(completions), dtype=torch.float32)  # [N]
        parts = {}
        for name, spec, fn in zip(self.names, self.specs, self.fns):
            # Each verifier sees only the rows its spec applies to; the rest are "not applicable".
            rows = [i for i, t in enumerate(tasks) if spec.tasks is None or t in spec.tasks]
            comp = torch.full((len(completions),), math.nan)  # [N]
            if rows:
                values = fn([prompts[i] for i in rows], [completions[i] for i in rows],
                            **{k: [v[i] for i in rows] for k, v in cols.items()})
                for i, v in zip(rows, values):
                    if v is not None and math.isfinite(v):
                        comp[i] = float(v)
            parts[name] = comp
            total += spec.weight * torch.nan_to_num(comp, nan=0.0)
        return total, parts
