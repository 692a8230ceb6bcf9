"""Truncation checks and the bridge to the shared verifiers; answers are read by
``gpg_vl.eval.extract`` (one layer for every benchmark)."""
from __future__ import annotations

import functools
import re

_OPEN_TAG = re.compile(r"<answer>", re.IGNORECASE)
_CLOSE_TAG = re.compile(r"</answer>", re.IGNORECASE)


def looks_truncated(response: str) -> bool:
    """True when the response stops inside its answer: an ``<answer>`` opened after the last
    ``</answer>``, or a ``\\boxed{`` whose brace never closes (generation hit the token limit)."""
    if not isinstance(response, str):
        return False
    opens = [m.start() for m in _OPEN_TAG.finditer(response)]
    closes = [m.start() for m in _CLOSE_TAG.finditer(response)]
    if opens and (not closes or opens[-1] > closes[-1]):
        return True
    start = response.rfind("\\boxed{")
    if start >= 0:
        depth = 0
        for ch in response[start + len("\\boxed"):]:
            depth += (ch == "{") - (ch == "}")
            if depth == 0:
                return False
        return True
    return False


@functools.lru_cache(maxsize=None)
def _whole_answer_verifier(name: str, options: tuple = ()):
    from gpg_vl.verifiers import get_verifier

    return get_verifier(name, answer_source="whole", **dict(options))


def whole_answer_verifier(name: str, **options):
    """The shared verifier ``name`` judging an already extracted answer as the whole text."""
    return _whole_answer_verifier(name, tuple(sorted(options.items())))


def verify(name: str, answer_text: str | None, **columns) -> bool:
    """The verdict of the shared verifier ``name`` on an already extracted answer text.

    The harness finds the answer (``gpg_vl.eval.extract``); the verifier judges it as the whole
    completion (``answer_source="whole"``), so training reward and evaluation agree.
    """
    if not answer_text:
        return False
    verifier = _whole_answer_verifier(name)
    reward = verifier(None, [answer_text], **{k: [v] for k, v in columns.items()})[0]
    return reward is not None and reward >= 1.0
