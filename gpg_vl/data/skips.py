"""Skip-or-error, the one policy a run sets for each kind of bad row (bad JSON line, bad image,
prompt over the limit): ``"error"`` stops loading with the row named, ``"skip"`` drops the row,
counts it and logs the first few, so a run that silently lost a third of its data shows it in the
load summary instead of in its results."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

logger = logging.getLogger(__name__)

SKIP_POLICIES = ("skip", "error")


@dataclass
class SkipCounter:
    """Counts and logs skipped rows; each kind names its config key and what it skips."""

    policy: str = "skip"
    log_first: int = 5
    skipped: int = 0
    messages: list[str] = field(default_factory=list)
    key: ClassVar[str] = "on_bad_row"  # the config key that sets ``policy``
    what: ClassVar[str] = "a bad row"  # "skipping <what> (3 so far): ..."

    def __post_init__(self):
        if self.policy not in SKIP_POLICIES:
            raise ValueError(f"{self.key}={self.policy!r}; expected one of {SKIP_POLICIES}")

    def skip(self, message: str) -> None:
        """Count one skipped row; log its message if it is among the first ``log_first``."""
        self.skipped += 1
        if len(self.messages) < self.log_first:
            self.messages.append(message)
            logger.warning("skipping %s (%d so far): %s", self.what, self.skipped, message)
