"""Errors that mean "bad input", reported as one line by the CLI (set GPG_VL_DEBUG=1 for tracebacks)."""
from __future__ import annotations

import os


def _user_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ValueError, KeyError, FileNotFoundError, OSError]
    if os.environ.get("GPG_VL_DEBUG"):
        return ()
    return tuple(errors)


USER_ERRORS = _user_errors()


class InputError(Exception):
    """Bad input, named by file / row / field; the CLI prints it as one line."""


class BadRecord(InputError):
    """A benchmark record (or prediction line) that cannot be scored: named in the report,
    scored wrong, and the rest go on. Any other exception from a scorer is a bug."""
