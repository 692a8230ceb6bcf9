"""``math``: numeric and symbolic answers of geometry and math word problems.

Returns 1.0 when the answer equals the ground truth as a value, else 0.0. The answer is the
single answer block (or the whole completion with ``answer_source="whole"``); inside it a
``\\boxed{}`` or an "The answer is ..." phrase, when present, is what is compared.

Why the normalisation (issue 3): a lenient parser (math-verify, R1-V's reward) reads a bare "2√{3}"
as 2 and "4π" as 4 -- it only parses what it recognises as math and falls back to the leading
number. GeoQA ground truths
are written that way (386 end in "°", 77 hold √ or π, many carry units: cm, m, 米, 海里), so
both sides are first rewritten into LaTeX that ``expr`` parses whole:
- degrees (``140°``, ``140 degrees``, ``140^\\circ``), percent signs and trailing units
  (``5cm``, ``5 cm``, ``5米``, ``cm^{2}``, ``平方米``) are dropped;
- ``√{3}``/``√3`` become ``\\sqrt{3}``, ``π`` becomes ``\\pi``, ``×``/``÷`` their commands;
then plain numbers and fractions are compared directly and everything else by value through
``gpg_vl.verifiers.expr`` (so ``2\\sqrt{3}`` is 2*sqrt(3), never 2; ``x+1`` equals ``1+x``).

Safety: model output is hostile. :func:`is_safe_expression` first rejects over-long text, deep
nesting, long digit runs, power towers (``9**9**9**9``) and LaTeX commands outside a small
allow-list; ``expr`` then parses in one linear pass and evaluates in floats with every operation
bounded before it runs (no sympy, no ``eval``). That bounds the time in any thread; in the main
thread the registry additionally interrupts a call after ``timeout_seconds``.
"""
from __future__ import annotations

import functools
import math
import re

from gpg_vl.verifiers.expr import same_value, values_of
from gpg_vl.verifiers.parsing import (ANSWER_SOURCES, MAX_NUMBER_DIGITS, extract_answer_phrase,
                                      extract_boxed, parse_number, select_answer)
from gpg_vl.verifiers.registry import register_scorer

MAX_EXPRESSION_CHARS = 300  # longer answers are not compared (and never evaluated)
MAX_NESTING = 12
SAFE_COMMANDS = frozenset({
    "frac", "sqrt", "pi", "times", "div", "cdot", "pm", "infty", "sin", "cos", "tan", "cot",
    "sec", "csc", "arcsin", "arccos", "arctan", "log", "ln", "exp", "alpha", "beta", "gamma",
    "theta", "phi", "le", "ge", "leq", "geq", "neq", "approx",
})

_UNIT_WORDS = ("square units", "sq units", "units", "unit", "centimeters", "centimetres",
               "centimeter", "meters", "metres", "meter", "inches", "inch", "feet", "foot",
               "yards", "miles", "hours", "minutes", "seconds", "cm", "mm", "km", "dm", "m",
               "ft", "kg", "g", "km/h", "m/s", "cm/s", "mph")
_POWER = r"(?:\^\{?[23]\}?\^?|[²³])?"
_TRAILING_UNIT = re.compile(
    rf"(?:\s*(?:{'|'.join(re.escape(u) for u in sorted(_UNIT_WORDS, key=len, reverse=True))}){_POWER}"
    rf"|\s*[\u4e00-\u9fff]+)\s*$", re.IGNORECASE)
_DEGREES = re.compile(r"\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree|degrees?)\s*$",
                      re.IGNORECASE)
_TEXT_CMD = re.compile(r"\\(?:text|mathrm|textbf|mbox|operatorname)\s*\{([^{}]*)\}")
_VARIABLE_PREFIX = re.compile(r"^[a-zA-Z]\s*=\s*")
_REWRITES = (
    (re.compile(r"\\[dt]frac"), r"\\frac"),
    (re.compile(r"\\left|\\right|\\[,;! ]|\$"), ""),
    (re.compile(r"\\?%"), ""),
    (re.compile(r"√\s*\(([^()]*)\)"), r"\\sqrt{\1}"),
    (re.compile(r"√\s*(\d+(?:\.\d+)?|[a-zA-Z])"), r"\\sqrt{\1}"),
    (re.compile(r"√"), r"\\sqrt"),
    (re.compile(r"π|(?<![a-zA-Z\\])pi\b"), r"\\pi "),
    (re.compile(r"×"), r"\\times "),
    (re.compile(r"÷"), r"\\div "),
    (re.compile(r"·"), r"\\cdot "),
    (re.compile(r"[−–]"), "-"),
)


def normalize_math_answer(text: str) -> str | None:
    """``text`` rewritten into LaTeX ``expr`` parses whole (module docstring); None if too long."""
    if not isinstance(text, str) or len(text) > MAX_EXPRESSION_CHARS:
        return None
    s = _TEXT_CMD.sub(r"\1", text.strip())
    for pattern, replacement in _REWRITES:
        s = pattern.sub(replacement, s)
    s = _VARIABLE_PREFIX.sub("", s.strip()).rstrip(".").strip()
    for _ in range(3):  # "5 cm^{2}", "140°", "(√3+1)小时", "20海里" ...
        stripped = _DEGREES.sub("", _TRAILING_UNIT.sub("", s))
        if stripped == s or not stripped.strip():
            break
        s = stripped
    s = s.strip().rstrip(".").strip()
    return s or None


_COMMAND = re.compile(r"\\([a-zA-Z]+)")
_SAFE_CHARACTERS = re.compile(r"[0-9a-zA-Z \t+\-*/^()\[\]{}.,=<>!|\\']*")
_DIGIT_RUN = re.compile(r"\d+")


def is_safe_expression(expr: str) -> bool:
    """Whether ``expr`` may be evaluated: bounded size, nesting, digits, powers, commands.

    Only ASCII math characters pass (normalisation has already turned √, π, ° into LaTeX): the
    LaTeX grammar's parser is fast on what it has seen but slow the first time it meets an
    unusual token sequence, and a policy has endless unusual sequences to offer.
    """
    if len(expr) > MAX_EXPRESSION_CHARS or not _SAFE_CHARACTERS.fullmatch(expr):
        return False
    depth = max_depth = 0
    for ch in expr:
        depth += ch in "([{"
        depth -= ch in ")]}"
        max_depth = max(max_depth, depth)
    if max_depth > MAX_NESTING:
        return False
    runs = [len(r) for r in _DIGIT_RUN.findall(expr)]
    if any(n > MAX_NUMBER_DIGITS for n in runs):
        return False
    # One power or factorial at most, and then only of small numbers: no 9^{9^{9}}, no 10^{10^9},
    # no (10^6)! (expr refuses them too; this is the cheap first filter).
    operators = expr.count("^") + expr.count("**") + expr.count("!")
    if operators > 1 or (operators == 1 and any(n > 4 for n in runs)):
        return False
    return all(cmd in SAFE_COMMANDS for cmd in _COMMAND.findall(expr))


def answers_equal(gold: str, pred: str) -> bool:
    """Whether two normalised answers have the same value (evaluated by ``expr``, bounded)."""
    if gold == pred:
        return True
    gold_number, pred_number = parse_number(gold), parse_number(pred)
    if gold_number is not None and pred_number is not None:
        return math.isfinite(pred_number) and math.isclose(gold_number, pred_number,
                                                           rel_tol=1e-6, abs_tol=1e-9)
    if not (is_safe_expression(gold) and is_safe_expression(pred)):
        return False
    gold_values, pred_values = _values(gold), values_of(pred)
    return gold_values is not None and pred_values is not None and same_value(gold_values, pred_values)


@functools.lru_cache(maxsize=4096)
def _values(expr: str):
    """Ground truths repeat every epoch: their values are cached."""
    return values_of(expr)


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """One comparison through every path (cheap; kept so callers may warm verifiers uniformly)."""
    answers_equal("\\frac{2\\sqrt{3}}{3}\\pi", "\\frac{2}{\\sqrt{3}}\\pi")


def answer_expression(text: str, gold: str = "") -> str:
    """What to compare inside an answer: its ``\\boxed{}``, its "answer is" phrase, or all of it.

    When the ground truth is not an equation, the right of a single "=" counts
    ("∠CED = 140°" -> "140°"); with several ("x=3 or x=2") nothing is cut, and the hedge fails.
    """
    text = extract_boxed(text) or extract_answer_phrase(text) or text
    if "=" not in gold and text.count("=") == 1:
        text = text.rsplit("=", 1)[1]
    return text


@register_scorer("math", required=("answer",), warm_up=warm_up, checks={
    "answer_source": ANSWER_SOURCES,
    "timeout_seconds": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
})
def score_math(completion: str, answer, *, answer_source: str = "block",
               timeout_seconds: float = 1.0) -> float:
    """1.0 when the answer has the ground truth's value (module docstring), else 0.0.

    ``timeout_seconds`` is the per-item limit the registry enforces around this call.
    """
    gold = normalize_math_answer(str(answer))
    if gold is None:
        raise ValueError(f"ground truth {str(answer)[:80]!r} is not a comparable answer")
    text = select_answer(completion, answer_source)
    if not text:
        return 0.0
    pred = normalize_math_answer(answer_expression(text, str(answer)))
    return 1.0 if pred is not None and answers_equal(gold, pred) else 0.0
