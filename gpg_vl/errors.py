"""The project's error classes for bad input: the CLI reports these as one line naming the
file / row / field (set GPG_VL_DEBUG=1 for their tracebacks too). Anything else is a bug and
keeps its traceback.

Each class also derives from the built-in error callers used to catch (ValueError, or
FileNotFoundError for a missing input), so code written against those keeps working.
"""
from __future__ import annotations

import os


class UserError(Exception):
    """Bad input from the user (config, data, model folder, command line): reported as one line."""


class ConfigError(UserError, ValueError):
    """A config file, override or option value that cannot be used."""


class DataError(UserError, ValueError):
    """A dataset, row or field that cannot be used."""


class ModelError(UserError, ValueError):
    """A model folder or hub id that cannot be loaded as a supported policy."""


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder named by the user that does not exist."""


def _user_errors() -> tuple[type[BaseException], ...]:
    if os.environ.get("GPG_VL_DEBUG"):
        return ()
    return (UserError,)


USER_ERRORS = _user_errors()


class InputError(Exception):
    """Bad input, named by file / row / field; the CLI prints it as one line."""


class BadRecord(InputError):
    """A benchmark record (or prediction line) that cannot be scored: named in the report,
    scored wrong, and the rest go on. Any other exception from a scorer is a bug."""
