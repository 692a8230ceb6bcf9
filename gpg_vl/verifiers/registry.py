"""Verifier registry, option binding and the wrapper that keeps a bad item from crashing a step.

A verifier is a TRL reward function ``f(prompts, completions, **columns) -> list[float | None]``
(columns arrive as lists aligned with ``completions``). Built-in verifiers are written as
per-item *scorers* ``score(completion, <columns>..., *, <options>...) -> float`` and registered
with :func:`register_scorer`, which turns them into an :class:`ItemVerifier`. Any item whose
scorer raises, runs past its time limit (1 s, or the ``timeout_seconds`` option), lacks a
column it needs, or returns a non-finite value scores 0.0 and adds one to that verifier's
warning count (issue 3: "a verifier that raises or times out yields 0 and a counted warning,
never a crashed training step"). The trainer logs :func:`warning_counts`.

User functions (``path/to/file.py:function`` or :func:`register_verifier`) are called by keyword
exactly as TRL 1.16's ``GRPOTrainer._calculate_rewards`` calls them (:func:`call_by_keyword`), so
TRL's documented reward functions run unchanged; one failing on every item of a call is a bug
and stops the run (:class:`RewardFunctionError`), occasional failures are counted.
"""
from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import inspect
import logging
import math
import threading
from collections import Counter
from pathlib import Path
from typing import Callable

from gpg_vl.errors import ConfigError
from gpg_vl.verifiers.parsing import completion_text
from gpg_vl.verifiers.timeouts import VerifierTimeout, call_with_limit

logger = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT = 1.0  # seconds per item (issue 3)

# Registered verifiers by name: ItemVerifier instances (built-ins) or plain TRL functions.
VERIFIERS: dict[str, Callable] = {}

# Items scored 0 because the verifier failed, per verifier name, cumulative over the process.
_WARNING_COUNTS: Counter = Counter()
_WARNING_LOCK = threading.Lock()
_REPORTED: set[tuple[str, str]] = set()  # (verifier, failure kind) already logged at WARNING


def warning_counts() -> dict[str, int]:
    """Items scored 0 by a failure (exception, timeout, missing column), per verifier name."""
    with _WARNING_LOCK:
        return dict(_WARNING_COUNTS)


def reset_warning_counts() -> None:
    with _WARNING_LOCK:
        _WARNING_COUNTS.clear()
        _REPORTED.clear()


def _count_warning(name: str, kind: str, detail: str) -> None:
    with _WARNING_LOCK:
        _WARNING_COUNTS[name] += 1
        first = (name, kind) not in _REPORTED
        _REPORTED.add((name, kind))
    # The first failure of each kind is logged loudly; repeats only count (a hostile policy can
    # produce thousands per step).
    logger.log(logging.WARNING if first else logging.DEBUG,
               "verifier %s scored an item 0 (%s): %s", name, kind, detail[:300])


def _item_value(column, i: int, n: int):
    """Item ``i`` of a TRL column (a list aligned with the completions); None when absent."""
    if isinstance(column, (list, tuple)) and len(column) == n:
        return column[i]
    return None


class ItemVerifier:
    """A TRL reward function that runs a per-item scorer with bound options.

    ``scorer(completion, <column params>..., *, <options with defaults>)``: positional
    parameters after the completion name dataset columns; keyword-only parameters are options.
    """

    def __init__(self, name: str, scorer: Callable, required: tuple[str, ...] = (),
                 checks: dict | None = None, options: dict | None = None,
                 warm_up: Callable | None = None):
        params = list(inspect.signature(scorer).parameters.values())[1:]
        self.__name__ = name  # TRL logs reward functions by __name__
        self.name = name
        self.scorer = scorer
        self.columns = tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
        self.defaults = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
        self.required = tuple(required)
        self.checks = dict(checks or {})
        self.options = {**self.defaults, **(options or {})}
        self.warm_up = warm_up
        self.__doc__ = scorer.__doc__

    def with_options(self, **options) -> "ItemVerifier":
        """A copy with ``options`` bound; an unknown name or a bad value raises ValueError."""
        for key, value in options.items():
            if key not in self.defaults:
                raise ConfigError(f"verifier {self.name!r} has no option {key!r}; "
                                 f"its options are {sorted(self.defaults)}")
            check = self.checks.get(key)
            if isinstance(check, tuple) and value not in check:
                raise ConfigError(f"verifier {self.name!r}: option {key}={value!r}; "
                                 f"expected one of {check}")
            if callable(check) and not check(value):
                raise ConfigError(f"verifier {self.name!r}: invalid value {key}={value!r}")
        return ItemVerifier(self.name, self.scorer, self.required, self.checks,
                            {**self.options, **options}, self.warm_up)

    @property
    def time_limit(self) -> float:
        return float(self.options.get("timeout_seconds", DEFAULT_TIME_LIMIT))

    def __call__(self, prompts=None, completions=(), **columns) -> list[float | None]:
        n = len(completions)
        if self.warm_up is not None and n:
            self.warm_up()  # one-off library start-up, outside the per-item time limit
        return [self._score_item(completions[i], {c: _item_value(columns.get(c), i, n)
                                                  for c in self.columns}) for i in range(n)]

    def _score_item(self, completion, sample: dict) -> float | None:
        missing = [c for c in self.required if sample.get(c) is None]
        if missing:
            _count_warning(self.name, "missing column", f"no value for {missing}")
            return 0.0
        try:
            value = call_with_limit(self.scorer, self.time_limit, completion_text(completion),
                                    **sample, **self.options)
            if value is None:
                return None
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"non-finite reward {value!r}")
            return value
        except (Exception, VerifierTimeout) as exc:  # noqa: BLE001 -- model output must not crash a step
            _count_warning(self.name, type(exc).__name__, repr(exc))
            return 0.0

    def __repr__(self) -> str:
        return f"ItemVerifier({self.name!r}, options={self.options})"


def register_scorer(name: str, *, required: tuple[str, ...] = (), checks: dict | None = None,
                    warm_up: Callable | None = None):
    """Register a per-item scorer under ``name`` (as an ItemVerifier); returns it unchanged.

    ``required`` names columns without which an item scores 0 with a warning; ``checks`` maps an
    option to its allowed values (a tuple) or a predicate, checked when options are bound;
    ``warm_up`` (idempotent, cheap after its first call) runs before each batch, outside the
    per-item time limit, so a library's one-off start-up is not mistaken for a slow item.
    """
    def decorate(scorer: Callable) -> Callable:
        if name in VERIFIERS:
            raise ValueError(f"verifier {name!r} is already registered")
        VERIFIERS[name] = ItemVerifier(name, scorer, required, checks, warm_up=warm_up)
        return scorer
    return decorate


def register_verifier(name: str):
    """Register a TRL reward function ``f(prompts, completions, **columns)`` under ``name``."""
    def decorate(fn: Callable) -> Callable:
        if name in VERIFIERS:
            raise ValueError(f"verifier {name!r} is already registered")
        VERIFIERS[name] = fn
        return fn
    return decorate


class RewardFunctionError(RuntimeError):
    """A user reward function failed on every item of one call: a bug in it (a wrong signature, a
    missing column), not a bad completion. It stops the run, its own traceback chained below."""


def _keywords(fn: Callable) -> tuple[set[str], bool]:
    """(the keyword names ``fn`` names, whether it also takes ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: give it everything
        return set(), True
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def call_by_keyword(fn: Callable, kwargs: dict):
    """Call a reward function by keyword, as TRL 1.16's ``GRPOTrainer._calculate_rewards`` does:
    ``fn(prompts=..., completions=..., completion_ids=..., <columns>..., trainer_state=...,
    log_extra=..., log_metric=...)``; an ``async def`` function is awaited.

    A function without ``**kwargs`` gets only the keywords it names (TRL would raise TypeError
    on the others); one that names ``completions_ids`` (the spelling of TRL's documentation
    example) gets ``completion_ids`` under that name.
    """
    names, var_keyword = _keywords(fn)
    if "completions_ids" in names and "completion_ids" in kwargs:
        kwargs = {**kwargs, "completions_ids": kwargs["completion_ids"]}
    if not var_keyword:
        kwargs = {k: v for k, v in kwargs.items() if k in names}
    out = fn(**kwargs)
    if inspect.isawaitable(out):
        out = asyncio.run(_awaited(out))
    return out


async def _awaited(awaitable):
    return await awaitable


class SafeBatchVerifier:
    """Wraps a plain TRL reward function, called by keyword as TRL calls it.

    When a batch call raises or returns a malformed list, each item is retried alone so that
    one hostile completion costs only its own reward (scored 0, counted). When every item fails,
    the function itself is broken: :class:`RewardFunctionError` stops the run with its traceback.
    """

    def __init__(self, name: str, fn: Callable, options: dict):
        self.__name__ = name
        self.name, self.fn, self.options = name, fn, options

    def __call__(self, prompts=None, completions=(), **columns) -> list[float | None]:
        n = len(completions)
        try:
            return self._checked(self._call(prompts, completions, columns), n)
        except Exception:  # noqa: BLE001 -- fall back to item by item
            pass
        values, failures = [], []
        for i in range(n):
            value, error = self._one(prompts, completions, columns, i, n)
            values.append(value)
            if error is not None:
                failures.append(error)
        if n and len(failures) == n:
            raise RewardFunctionError(
                f"reward function {self.name!r} failed on all {n} items of this call (first error: "
                f"{type(failures[0]).__name__}: {failures[0]}); reward functions are called by keyword "
                "as in TRL: fn(prompts=, completions=, completion_ids=, trainer_state=, <dataset columns>)"
            ) from failures[0]
        for exc in failures:
            _count_warning(self.name, type(exc).__name__, repr(exc))
        return values

    def _call(self, prompts, completions, columns: dict):
        return call_by_keyword(self.fn, {"prompts": prompts, "completions": completions,
                                         **columns, **self.options})

    def _one(self, prompts, completions, columns, i, n) -> tuple[float | None, Exception | None]:
        def item(v):
            return [v[i]] if isinstance(v, (list, tuple)) and len(v) == n else v
        try:
            out = self._call(item(prompts), [completions[i]], {k: item(v) for k, v in columns.items()})
            return self._checked(out, 1)[0], None
        except Exception as exc:  # noqa: BLE001
            return 0.0, exc

    @staticmethod
    def _checked(out, n: int) -> list[float | None]:
        if not isinstance(out, (list, tuple)) or len(out) != n:
            raise ValueError(f"reward function returned {type(out).__name__}"
                             f"{f' of {len(out)}' if isinstance(out, (list, tuple)) else ''}, expected {n} values")
        values = [None if v is None else float(v) for v in out]
        if any(v is not None and not math.isfinite(v) for v in values):
            raise ValueError("reward function returned a non-finite value")
        return values


@functools.lru_cache(maxsize=None)
def load_function(spec: str) -> Callable:
    """A user's reward function from ``path/to/file.py:function`` (or ``package.module:function``)."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ConfigError(f"expected 'path/to/file.py:function', got {spec!r}")
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"reward function file not found: {path}")
        module_spec = importlib.util.spec_from_file_location(f"gpg_vl_user_reward_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"{target} has no function {attr!r}")
    return fn


def _check_user_options(name: str, fn: Callable, options: dict) -> None:
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    for key in options:
        if key not in params:
            raise ConfigError(f"reward function {name!r} takes no option {key!r}")


def get_verifier(name: str, **options) -> Callable:
    """The TRL reward function for ``name`` with ``options`` bound, wrapped so that a bad
    completion scores 0 with a counted warning (a user function failing on every item raises
    :class:`RewardFunctionError`).

    ``name`` is a registered name (see VERIFIERS) or ``path/to/file.py:function``.
    """
    if name in VERIFIERS:
        fn = VERIFIERS[name]
    elif ":" in name:
        fn = load_function(name)
    else:
        raise ConfigError(f"unknown verifier {name!r}; registered: {sorted(VERIFIERS)} "
                         "(or give path/to/file.py:function)")
    if isinstance(fn, ItemVerifier):
        return fn.with_options(**options)
    _check_user_options(name, fn, options)
    return SafeBatchVerifier(name, fn, options)
