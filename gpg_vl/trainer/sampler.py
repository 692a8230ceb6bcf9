"""Prompt order: a seeded, epoch-shuffled stream split across ranks without repeats."""
from __future__ import annotations

import torch

from gpg_vl.errors import DataError


class PromptSampler:
    """Global position ``p`` of the stream maps to a dataset index via per-epoch permutations.

    Every rank holds the same stream; a draw of ``global_count`` prompts gives rank ``r`` the
    contiguous slice ``[r * k, (r + 1) * k)`` of it (k = global_count / world), so ranks never
    repeat each other's prompts and the position is one integer to checkpoint.
    """

    def __init__(self, num_rows: int, seed: int, rank: int = 0, world_size: int = 1):
        if num_rows < 1:
            raise DataError("the training set is empty (no rows loaded)")
        self.n, self.seed, self.rank, self.world = num_rows, seed, rank, world_size
        self.position = 0
        self._epoch, self._perm = -1, None

    def _index(self, pos: int) -> int:
        epoch = pos // self.n
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._epoch = torch.randperm(self.n, generator=gen).tolist(), epoch
        return self._perm[pos % self.n]

    def draw(self, global_count: int) -> list[int]:
        """This rank's dataset indices for the next ``global_count`` prompts of the stream."""
        return [self._index(p) for p in self.draw_positions(global_count)]

    def draw_positions(self, global_count: int) -> list[int]:
        """This rank's stream positions for the next draw (advances the stream)."""
        if global_count % self.world:
            raise ValueError(f"{global_count} prompts do not split over {self.world} ranks")
        k = global_count // self.world
        start = self.position + self.rank * k
        self.position += global_count
        return list(range(start, start + k))

    def index(self, position: int) -> int:
        """The dataset row at a stream position."""
        return self._index(position)

    def state_dict(self) -> dict:
        return {"position": self.position, "seed": self.seed, "num_rows": self.n}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])
