"""A small LaTeX arithmetic evaluator whose cost is bounded by construction.

The ``math`` verifier compares values. sympy (through math-verify) did that for it, but sympy
evaluates symbolically: ``exp(exp(exp(99)))``, ``sin(9999**9999)`` or ``log(tan(9e))`` against
``2*sqrt(3)`` ran from a second to minutes, its LaTeX grammar took up to half a second the first
time it met an unusual token sequence, and a worker thread cannot be interrupted. Here instead:

- one linear tokenizer pass and a recursive-descent parse with a depth limit (``MAX_DEPTH``) build
  a tree no larger than the input (which ``math_answer`` caps at 300 characters);
- the tree is evaluated in complex floating point, twice (free letters take two fixed sets of
  values, so ``x+1`` equals ``1+x`` but not ``x+2``); every operation checks its operands first:
  exponents at most ``MAX_EXPONENT``, trigonometric arguments at most ``MAX_TRIG_ARGUMENT``,
  ``exp`` arguments at most 700, factorials of integers up to 100, results below 1e300;
- anything else (sets, relations, ``\\pm``, unknown commands, subscripts) is not a value: None.

So every call costs O(input length) float operations, and no string ever reaches ``eval``.

Grammar: numbers, letters (``e`` is Euler's number, ``i`` the imaginary unit, others free
variables), ``+ - * / ^ ** !``, ``\\times \\cdot \\div``, implicit multiplication, groups
``() {} []``, ``\\frac{a}{b}``, ``\\sqrt{a}``, ``\\sqrt[n]{a}``, ``\\pi``, and the functions
``\\sin \\cos \\tan \\cot \\sec \\csc \\arcsin \\arccos \\arctan \\ln \\log \\exp`` (``\\log`` is
the natural logarithm, as in sympy's LaTeX parser).
"""
from __future__ import annotations

import cmath
import math
import re

MAX_DEPTH = 24
MAX_DIGITS = 30
MAX_EXPONENT = 1000.0
MAX_TRIG_ARGUMENT = 1e4
MAX_EXP_ARGUMENT = 700.0
MAX_FACTORIAL = 100
MAX_MAGNITUDE = 1e300
REL_TOL, ABS_TOL = 1e-6, 1e-9

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|(\\[a-zA-Z]+)|(\*\*|[-+*/^!(){}\[\]])|([a-zA-Z]))")
_FUNCTIONS = {
    "\\sin": cmath.sin, "\\cos": cmath.cos, "\\tan": cmath.tan,
    "\\cot": lambda z: 1 / cmath.tan(z), "\\sec": lambda z: 1 / cmath.cos(z), "\\csc": lambda z: 1 / cmath.sin(z),
    "\\arcsin": cmath.asin, "\\arccos": cmath.acos, "\\arctan": cmath.atan,
    "\\ln": cmath.log, "\\log": cmath.log, "\\exp": cmath.exp,
}
_TRIG = {"\\sin", "\\cos", "\\tan", "\\cot", "\\sec", "\\csc"}
_MUL = {"*", "\\times", "\\cdot"}
_ATOM_START = {"(", "{", "["}


class NotAValue(Exception):
    """The text is not an arithmetic expression this evaluator accepts, or is too costly."""


def tokenize(text: str) -> list[str]:
    tokens, pos, text = [], 0, text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise NotAValue
        token = next(g for g in m.groups() if g is not None)
        if token[0].isdigit() and len(token.replace(".", "")) > MAX_DIGITS:
            raise NotAValue
        tokens.append("^" if token == "**" else token)
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent over the token list; builds nested tuples (op, *operands)."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.pos, self.depth = tokens, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise NotAValue
        self.pos += 1
        return token

    def nest(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise NotAValue

    def expr(self):
        self.nest()
        node = self.term()
        while self.peek() in ("+", "-"):
            node = (self.take(), node, self.term())
        self.depth -= 1
        return node

    def term(self):
        node = self.unary()
        while True:
            token = self.peek()
            if token in _MUL or token in ("/", "\\div"):
                self.take()
                node = ("/" if token in ("/", "\\div") else "*", node, self.unary())
            elif token is not None and self.starts_atom(token):
                node = ("*", node, self.power())  # implicit multiplication: 2\sqrt{3}, 4\pi
            else:
                return node

    def starts_atom(self, token: str) -> bool:
        return token in _ATOM_START or token[0].isalnum() or token[0] == "." or (
            token.startswith("\\") and token not in _MUL and token != "\\div")

    def unary(self):
        if self.peek() in ("+", "-"):
            sign = self.take()
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return ("neg", operand) if sign == "-" else operand
        return self.power()

    def power(self):
        node = self.postfix()
        if self.peek() == "^":
            self.take()
            self.nest()
            exponent = self.unary() if self.peek() in ("+", "-") else self.power()
            self.depth -= 1
            node = ("^", node, exponent)
        return node

    def postfix(self):
        node = self.atom()
        while self.peek() == "!":
            self.take()
            node = ("!", node)
        return node

    def group(self, close: str):
        node = self.expr()
        self.take(close)
        return node

    def argument(self):
        """A LaTeX macro argument: a braced group, or one character (\\frac23 = 2/3)."""
        token = self.take()
        if token == "{":
            return self.group("}")
        if token[0].isdigit() and len(token) > 1:
            self.tokens[self.pos:self.pos] = [token[1:]]  # \frac23: the rest is the next argument
            return ("num", float(token[0]))
        self.pos -= 1
        return self.atom()

    def atom(self):
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return ("num", float(token))
        if token in ("(", "{", "["):
            return self.group({"(": ")", "{": "}", "[": "]"}[token])
        if len(token) == 1 and token.isalpha():
            return ("var", token)
        if token == "\\pi":
            return ("num", math.pi)
        if token == "\\frac":
            return ("/", self.argument(), self.argument())
        if token == "\\sqrt":
            if self.peek() == "[":
                self.take()
                index = self.group("]")
                return ("^", self.argument(), ("/", ("num", 1.0), index))
            return ("^", self.argument(), ("num", 0.5))
        if token in _FUNCTIONS:
            self.nest()
            node = ("fn", token, self.power())
            self.depth -= 1
            return node
        raise NotAValue


def parse(text: str):
    """The expression tree of ``text``; NotAValue when it is not one accepted expression."""
    tokens = tokenize(text)
    if not tokens:
        raise NotAValue
    parser = _Parser(tokens)
    node = parser.expr()
    if parser.peek() is not None:
        raise NotAValue
    return node


def _bounded(z: complex) -> complex:
    if not (math.isfinite(z.real) and math.isfinite(z.imag)) or abs(z) > MAX_MAGNITUDE:
        raise NotAValue
    return z


def _power(base: complex, exponent: complex) -> complex:
    if abs(exponent) > MAX_EXPONENT:
        raise NotAValue
    if base == 0:
        if exponent.real <= 0:
            raise NotAValue
        return 0j
    if abs(base) > 1 and exponent.real * math.log10(abs(base)) > 300:
        raise NotAValue
    if base.imag == 0 and exponent.imag == 0 and (base.real > 0 or float(exponent.real).is_integer()):
        return complex(base.real ** exponent.real)
    return cmath.exp(exponent * cmath.log(base))


def _function(name: str, z: complex) -> complex:
    if name in _TRIG and abs(z) > MAX_TRIG_ARGUMENT:
        raise NotAValue
    if name == "\\exp" and (z.real > MAX_EXP_ARGUMENT or abs(z.imag) > MAX_TRIG_ARGUMENT):
        raise NotAValue
    if name in ("\\ln", "\\log") and z == 0:
        raise NotAValue
    return _FUNCTIONS[name](z)


def evaluate(node, variables: dict[str, complex]) -> complex:
    """The value of a parsed tree (NotAValue when an operation is out of bounds)."""
    op = node[0]
    try:
        if op == "num":
            return complex(node[1])
        if op == "var":
            return variables[node[1]]
        if op == "neg":
            return -evaluate(node[1], variables)
        if op == "fn":
            return _bounded(_function(node[1], evaluate(node[2], variables)))
        if op == "!":
            n = evaluate(node[1], variables)
            if n.imag or not float(n.real).is_integer() or not 0 <= n.real <= MAX_FACTORIAL:
                raise NotAValue
            return complex(math.factorial(int(n.real)))
        a, b = evaluate(node[1], variables), evaluate(node[2], variables)
        if op == "+":
            return _bounded(a + b)
        if op == "-":
            return _bounded(a - b)
        if op == "*":
            return _bounded(a * b)
        if op == "/":
            if b == 0:
                raise NotAValue
            return _bounded(a / b)
        return _bounded(_power(a, b))
    except (OverflowError, ZeroDivisionError, ValueError):
        raise NotAValue from None


def _assignment(seed: float) -> dict[str, complex]:
    """Fixed values for free letters (two different sets compare expressions in variables)."""
    values = {chr(c): complex(1.1 + (c * seed) % 1.0) for c in range(ord("a"), ord("z") + 1)}
    values.update({c.upper(): v + 0.5 for c, v in values.items()})
    values["e"], values["i"] = complex(math.e), 1j
    return values


ASSIGNMENTS = (_assignment(0.6180339887), _assignment(0.4142135623))


def values_of(text: str) -> tuple[complex, ...] | None:
    """``text``'s value under each assignment, or None when it is not a bounded expression."""
    try:
        tree = parse(text)
        return tuple(evaluate(tree, a) for a in ASSIGNMENTS)
    except (NotAValue, RecursionError):
        return None


def same_value(a: tuple[complex, ...], b: tuple[complex, ...]) -> bool:
    return all(abs(x - y) <= max(REL_TOL * max(abs(x), abs(y)), ABS_TOL) for x, y in zip(a, b))
