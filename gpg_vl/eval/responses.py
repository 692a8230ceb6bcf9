"""Where a response states its answer, composed from the shared parsing layer.

Only composition lives here; the parsing itself is ``gpg_vl.verifiers.parsing``'s.
"""
from __future__ import annotations

import functools
import re

from gpg_vl.verifiers.parsing import extract_answer_block, extract_answer_phrase, extract_boxed

_OPEN_TAG = re.compile(r"<answer>", re.IGNORECASE)
_CLOSE_TAG = re.compile(r"</answer>", re.IGNORECASE)


def answer_span(response: str) -> str | None:
    """The stated answer: the ``<answer>`` block (or a ``\\boxed{}`` inside it), else the last
    ``\\boxed{}``, else the text after "The answer is" / "Answer:"; None when none is stated."""
    if not isinstance(response, str) or not response.strip():
        return None
    block = extract_answer_block(response)
    if block is not None:
        inner = extract_boxed(block)
        if inner is None:
            inner = extract_answer_phrase(block)
        return inner if inner is not None else block
    boxed = extract_boxed(response)
    if boxed is not None:
        return boxed
    return extract_answer_phrase(response)


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


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (the official MathVista scorer's ``Levenshtein.distance``)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@functools.lru_cache(maxsize=None)
def _whole_answer_verifier(name: str, options: tuple = ()):
    from gpg_vl.verifiers import get_verifier

    return get_verifier(name, answer_source="whole", **dict(options))


def whole_answer_verifier(name: str, **options):
    """The shared verifier ``name`` judging an already extracted answer as the whole text."""
    return _whole_answer_verifier(name, tuple(sorted(options.items())))


def verify(name: str, answer_text: str | None, **columns) -> bool:
    """The verdict of the shared verifier ``name`` on an already extracted answer text.

    The harness finds the answer (``answer_span``); the verifier judges it as the whole
    completion (``answer_source="whole"``), so training reward and evaluation agree.
    """
    if not answer_text:
        return False
    verifier = _whole_answer_verifier(name)
    reward = verifier(None, [answer_text], **{k: [v] for k, v in columns.items()})[0]
    return reward is not None and reward >= 1.0
