"""A seeded generator of hostile completions, by family (what a policy, or an attacker, can emit).

Each family aims at one way a parser or a symbolic evaluator can blow up: deep or wide maths
(power towers, nested exp/trig, huge factorials), long whitespace runs between box parts,
unbalanced braces and tags, digit floods, label lists, raw unicode. Lengths stay modest (a few
thousand characters at most) except the explicit flood family, so 10,000 strings run quickly.
"""
from __future__ import annotations

import random

NUMBERS = ["0", "1", "2", "3", "9", "99", "9999", "99999", "1.5", "-1", "0.0001", "123456789012", "1e9"]
FUNCTIONS = ["\\exp", "\\sin", "\\cos", "\\tan", "\\log", "\\ln", "\\sqrt", "\\arcsin", "\\cot", "\\sec"]
OPERATORS = ["+", "-", "*", "/", "\\times ", "\\cdot ", "=", "!"]
LABELS = ["golden retriever", "cat", "kitty", "labrador", "e", "dog"]


def maths(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(9 if depth < 4 else 2)
    if kind == 0:
        return rng.choice(NUMBERS)
    if kind == 1:
        return rng.choice(["x", "\\pi", "e", "i", "\\infty", "y"])
    a, b = maths(rng, depth + 1), maths(rng, depth + 1)
    if kind == 2:
        return f"{rng.choice(FUNCTIONS)}{{{a}}}"
    if kind == 3:
        return f"{rng.choice(FUNCTIONS)}({a})"
    if kind == 4:
        return f"{a}^{{{b}}}"
    if kind == 5:
        return f"\\frac{{{a}}}{{{b}}}"
    if kind == 6:
        return a + rng.choice(OPERATORS) + b
    if kind == 7:
        return f"({a})!"
    return f"{a}**{b}"


def boxes(rng: random.Random) -> str:
    spaces = " " * rng.choice([0, 1, 50, 5000, 20000])
    parts = [f"({rng.choice(NUMBERS)},{spaces}{rng.choice(NUMBERS)})", spaces, rng.choice([",", "", "x"]), spaces,
             rng.choice([f"({rng.choice(NUMBERS)},{rng.choice(NUMBERS)})", "x", "[1,", "(1"]),
             f"[{spaces}1{spaces},2,{spaces}3 4{spaces}", rng.choice(["]", "x", ""])]
    return "".join(rng.sample(parts, len(parts)))


def tags(rng: random.Random) -> str:
    pieces = ["<answer>", "</answer>", "<think>", "</think>", "\\boxed{", "{", "}", "The answer is ", "\n"]
    return "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 400)))


def floods(rng: random.Random) -> str:
    unit = rng.choice(["9", " ", "{", "(", "\\frac{1}{", "<answer>", "A ", "√", "\x00", "1,", "e "])
    return unit * rng.randrange(1000, 20000)


def labels(rng: random.Random) -> str:
    return rng.choice([", ", " or ", " ", "/"]).join(rng.sample(LABELS, rng.randrange(1, len(LABELS) + 1)))


def noise(rng: random.Random) -> str:
    return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(0, 300)))


FAMILIES = (maths, maths, maths, boxes, tags, floods, labels, noise)


def hostile_strings(n: int, seed: int = 0) -> list[str]:
    """``n`` hostile completions; about half wrapped in a well-formed answer block."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        body = rng.choice(FAMILIES)(rng)
        if rng.random() < 0.3:
            body = f"\\boxed{{{body}}}"
        out.append(f"<think>x</think><answer>{body}</answer>" if rng.random() < 0.6 else body)
    return out
