"""A per-call time limit that works in the main thread and degrades safely elsewhere.

Issue 3: every verifier returns within one second on any input, and one that times out yields 0
with a counted warning. In the main thread of a POSIX process the limit is enforced with
``SIGALRM`` (``setitimer``, so sub-second limits work) and interrupts pure-Python work such as
sympy. Signals cannot be installed from another thread (math-verify's own timeout then raises),
so there the limit is checked after the call: the verifiers keep every step bounded by input
size instead (see ``parsing`` and ``expr``), and the caller discards an over-time result.
"""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager


class VerifierTimeout(BaseException):
    """A verifier call ran past its time limit.

    A BaseException, like KeyboardInterrupt, so that libraries' ``except Exception`` (math-verify
    catches everything and returns "no parse") cannot swallow it and run on unbounded.
    """


def _can_use_alarm() -> bool:
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return False
    # Never clobber a timer someone else armed (pytest-timeout, the user's own code).
    return signal.getitimer(signal.ITIMER_REAL)[0] == 0.0


@contextmanager
def time_limit(seconds: float):
    """Raise VerifierTimeout inside the block after ``seconds`` (main thread only).

    Elsewhere the block runs unbounded; callers compare :func:`time.monotonic` afterwards.
    """
    if seconds is None or seconds <= 0 or not _can_use_alarm():
        yield
        return

    def on_alarm(signum, frame):
        raise VerifierTimeout(f"verifier call exceeded {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call_with_limit(fn, seconds: float, *args, **kwargs):
    """``fn(*args, **kwargs)`` under :func:`time_limit`; VerifierTimeout also when it ran long."""
    start = time.monotonic()
    with time_limit(seconds):
        result = fn(*args, **kwargs)
    if seconds and time.monotonic() - start > seconds:
        raise VerifierTimeout(f"verifier call took {time.monotonic() - start:.2f}s > {seconds:g}s")
    return result
