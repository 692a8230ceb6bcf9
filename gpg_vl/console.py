"""What a run prints: quiet third-party output, and progress that stays readable.

- :func:`quiet_third_party` runs once at start-up: each FutureWarning / UserWarning is shown once per
  message (not once per generation or per image), and the progress bars of ``datasets`` and
  ``transformers`` (file loading, weight loading, shard writing) are switched off.
- :class:`ProgressLine` shows a long phase (training steps, warm-up, the up-front image check).
  On a terminal it redraws one line that always starts with the count, elapsed time and ETA
  and is cut to the terminal width (80 columns included); elsewhere (nohup, SLURM, a pipe) it
  prints plain lines with the ETA every ``every`` items or ``interval`` seconds, never control
  characters.

No torch here: the data loader imports it too.
"""
from __future__ import annotations

import math
import os
import shutil
import sys
import time
import warnings

_QUIETED = False


def quiet_third_party() -> None:
    """Show each distinct warning once and turn off library progress bars (idempotent)."""
    global _QUIETED
    if _QUIETED:
        return
    _QUIETED = True
    # "once": the first occurrence of each message text, wherever it is raised from (the default
    # "once per location" repeats a warning raised at one place for every new caller, and a
    # ``catch_warnings`` block anywhere resets that registry). Only the categories Python shows
    # by default (DeprecationWarning stays hidden outside __main__), and never over the user's
    # own -W / PYTHONWARNINGS choice.
    if not sys.warnoptions:
        for category in (FutureWarning, UserWarning):
            warnings.filterwarnings("once", category=category)
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and "DS_ACCELERATOR" not in os.environ and not torch.cuda.is_available():
        # What DeepSpeed picks anyway without a GPU, said up front so it does not warn about it.
        os.environ["DS_ACCELERATOR"] = "cpu"
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def duration(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03``, or ``--:--`` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def eta(done: int, total: int, elapsed: float, start: int = 0) -> float | None:
    """Seconds left at the mean rate of this session's items (``start``: done before it, e.g.
    by the run a resume continues); None before the first item."""
    if done <= start or total <= 0:
        return None
    return elapsed / (done - start) * max(total - done, 0)


def progress_text(label: str, done: int, total: int, elapsed: float, detail: str = "",
                  width: int | None = None, bar: bool = True, start: int = 0) -> str:
    """``label 5/20 25% [#####.....] 0:12 eta 0:36 | detail``, at most ``width`` characters.

    The count, elapsed time and ETA come first, so a narrow terminal cuts the detail (and the
    bar) before anything a reader needs to see how far along the run is.
    """
    pct = f"{100 * done / total:3.0f}%" if total else ""
    head = f"{label} {done}/{total} {pct}".rstrip()
    times = f"{duration(elapsed)} eta {duration(eta(done, total, elapsed, start))}"
    line = f"{head} {times}"
    if bar and width is not None:
        room = width - len(line) - 3 - (len(detail) + 3 if detail else 0)
        n = min(20, room) if room >= 8 else 0
        if n:
            filled = int(n * done / total) if total else 0
            line = f"{head} [{'#' * filled}{'.' * (n - filled)}] {times}"
    if detail:
        line += f" | {detail}"
    if width is not None and len(line) > width:
        line = line[: max(width - 1, 0)] + "…"
    return line


class ProgressLine:
    """Progress of one phase on ``stream`` (stdout by default); see the module docstring."""

    def __init__(self, label: str, total: int, *, stream=None, every: int = 1, interval: float = 30.0,
                 enabled: bool = True, delay: float = 0.0, start_done: int = 0):
        self.label, self.total, self.every, self.interval = label, max(int(total), 0), max(1, every), interval
        self.stream = stream or sys.stdout
        self.enabled, self.delay = enabled, delay
        self.tty = enabled and _isatty(self.stream)
        self.t0 = time.perf_counter()
        self.start_done = start_done  # a resumed run: the rate counts only this session's items
        self.done, self.detail = start_done, ""
        self._last_plain = self.t0
        self._drawn = False
        self._shown = False

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def _text(self, width: int | None) -> str:
        return progress_text(self.label, self.done, self.total, self.elapsed, self.detail, width,
                             bar=self.tty, start=self.start_done)

    def update(self, done: int, detail: str = "", force: bool = False) -> None:
        """Record ``done`` items; redraw (terminal) or print a plain line when one is due."""
        self.done, self.detail = done, detail
        if not self.enabled or (not self._shown and not force and self.elapsed < self.delay):
            return  # a phase quicker than ``delay`` shows nothing at all
        self._shown = True
        if self.tty:
            width = shutil.get_terminal_size((80, 24)).columns - 1
            self.stream.write("\r\x1b[K" + self._text(width))
            self.stream.flush()
            self._drawn = True
            return
        now = time.perf_counter()
        if force or done == self.total or done % self.every == 0 or now - self._last_plain >= self.interval:
            self._last_plain = now
            print(self._text(None), file=self.stream, flush=True)

    def print(self, text: str) -> None:
        """A permanent line (above the progress line on a terminal)."""
        if not self.enabled:
            return
        if self._drawn:
            self.stream.write("\r\x1b[K")
        print(text, file=self.stream, flush=True)
        if self._drawn:
            self.stream.write(self._text(shutil.get_terminal_size((80, 24)).columns - 1))
            self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    @property
    def shown(self) -> bool:
        return self._shown


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def is_main_process() -> bool:
    """Rank 0 of a torchrun / accelerate launch (or a plain single process)."""
    return os.environ.get("RANK", "0") == "0"
