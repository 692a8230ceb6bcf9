"""Prompts longer than ``max_prompt_length`` tokens: skipped and counted, or a clear error (issue 5).

The anchors (R1-V, VisualThinker-R1-Zero) cut ``prompt_ids[:, -1024:]`` (``--max_prompt_length
1024``), which for a vision-language prompt can cut image placeholder tokens and break the
forward. gpg-vl never truncates: a training row whose prompt is too long is dropped while the
data is checked, before any rollout, with a counted warning naming the file and row (as a bad
image is), or stops loading under ``on_long_prompt="error"``. The length comes from a function
the caller passes (the trainer counts with the processor: ``gpg_vl.processing.prompt_length``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

from gpg_vl.data.skips import SkipCounter
from gpg_vl.errors import DataError

PromptLength = Callable[[dict, list], int]  # (sample, its images' (W, H)) -> prompt tokens


class PromptTooLongError(DataError):
    """A prompt over the limit, with where it came from."""


@dataclass
class LongPromptCounter(SkipCounter):
    """Measures prompts and raises (``"error"``) or skips and counts (``"skip"``) the long ones."""

    length: PromptLength | None = None
    max_length: int | None = None
    longest: int = 0
    key: ClassVar[str] = "on_long_prompt"
    what: ClassVar[str] = "a row whose prompt is too long"

    def __post_init__(self):
        super().__post_init__()
        if (self.length is None) != (self.max_length is None):
            raise ValueError("max_prompt_length and prompt_length (the counting function) go together")

    @property
    def active(self) -> bool:
        return self.length is not None

    def keep(self, sample: dict, sizes: list, source: str, row: int) -> bool:
        """Whether the sample's prompt fits; a long one raises or is counted and logged."""
        n = self.length(sample, sizes)
        if n <= self.max_length:
            return True
        message = (f"{source}, row {row} (id {sample.get('id')!r}): the prompt is {n} tokens "
                   f"({len(sizes)} image(s) included), longer than max_prompt_length {self.max_length}")
        if self.policy == "error":
            raise PromptTooLongError(message + "; raise the limit, or set on_long_prompt=skip to drop such rows")
        self.longest = max(self.longest, n)
        self.skip(message)
        return False

    def summary(self) -> str:
        if not self.skipped:
            return "no prompt over max_prompt_length"
        return (f"skipped {self.skipped} row(s) with prompts over {self.max_length} tokens "
                f"(longest {self.longest})")
