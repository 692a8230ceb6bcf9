"""The bounded evaluator behind ``math``: values by hand, hostile trees refused before evaluation."""
from __future__ import annotations

import math

import pytest

from gpg_vl.verifiers.expr import same_value, values_of


@pytest.mark.parametrize("text, value", [
    ("2\\sqrt{3}", 2 * math.sqrt(3)), ("\\frac{2}{3}\\pi", 2 / 3 * math.pi), ("\\frac23", 2 / 3),
    ("\\sqrt[3]{8}", 2.0), ("2^{10}", 1024.0), ("2**3", 8.0), ("-2^2", -4.0), ("5!", 120.0),
    ("(1+\\sqrt{2})(1-\\sqrt{2})", -1.0), ("3\\times 4\\div 6", 2.0), ("\\sin(\\pi/6)", 0.5),
    ("\\ln(e)", 1.0), ("\\exp{0}", 1.0), ("i^{2}", -1.0), (".5", 0.5), ("2\\cdot 3", 6.0),
])
def test_values(text, value):
    got = values_of(text)
    assert got is not None and all(abs(v - value) < 1e-9 for v in got), (text, got)


def test_variables_compare_as_expressions():
    assert same_value(values_of("x+1"), values_of("1+x"))
    assert same_value(values_of("(a+b)^{2}"), values_of("a^{2}+2ab+b^{2}"))
    assert not same_value(values_of("x+1"), values_of("x+2"))
    assert not same_value(values_of("2x"), values_of("x^{2}"))


@pytest.mark.parametrize("text", [
    "\\exp{\\exp{\\exp{99}}}", "\\sin(9999^{9999})", "9^{9^{9^{9}}}", "10^{400}", "(200)!", "2.5!",
    "\\tan(10^{6})", "1/0", "\\ln(0)", "0^{-1}", "\\{2,3\\}", "2 \\pm 1", "x=3", "\\int x", "a_1",
    "(" * 40 + "1" + ")" * 40, "-" * 100 + "1", "1" * 40, "", "2,3", "\\frac{1}", "()",
])
def test_out_of_bounds_or_not_a_value(text):
    assert values_of(text) is None
