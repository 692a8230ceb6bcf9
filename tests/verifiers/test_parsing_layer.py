"""The shared parsing layer: hand-worked tables, and hostile input in bounded time."""
import math
import time

import pytest

from gpg_vl.verifiers.parsing import (completion_text, extract_answer_block, extract_answer_phrase,
                                      extract_boxed, find_numbers, normalize_label, parse_boxes,
                                      parse_choice_letter, parse_number, select_answer)


@pytest.mark.parametrize("text, expected", [
    ("<think>x</think><answer> B </answer>", "B"),
    ("<answer>\n42\n</answer>\n", "42"),
    ("<ANSWER>4</ANSWER>", "4"),
    ("<answer>A</answer><answer>B</answer>", None),    # repeated blocks: R1-V took the first
    ("<answer>A</answer> <ANSWER>B</ANSWER>", None),   # case cannot smuggle a second block in
    ("<answer>A", None),                               # unclosed
    ("A</answer>", None),
    ("</answer>A<answer>", None),                      # closing before opening
    ("<answer>A<answer>B</answer>", None),
    ("no tags at all", None),
    ("<answer></answer>", ""),
])
def test_extract_answer_block(text, expected):
    assert extract_answer_block(text) == expected


@pytest.mark.parametrize("text, expected", [
    (r"so \boxed{5}", "5"),
    (r"\boxed{1} then \boxed{\frac{1}{2}}", r"\frac{1}{2}"),       # the last one
    (r"\boxed{2} and an unclosed \boxed{3", "2"),                    # last *balanced* one
    (r"\fbox{x^{2}}", "x^{2}"),
    ("no box", None),
    ("\\boxed{" * 1000, None),
])
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("reasoning...\nThe answer is 3.5.", "3.5"),
    ("Answer: **B**", "B"),
    ("Final answer: $\\frac{1}{2}$\nthanks", "\\frac{1}{2}"),
    ("answer is 1. Oh wait, the answer is 2", "2"),
    ("nothing here", None),
])
def test_extract_answer_phrase(text, expected):
    assert extract_answer_phrase(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("4", 4.0), (" 4.0 ", 4.0), ("-3", -3.0), ("1,000", 1000.0), ("1/2", 0.5),
    (r"\frac{1}{2}", 0.5), (r"-\frac{3}{4}", -0.75), ("$7$", 7.0), ("7.", 7.0),
    ("four", 4.0), ("Twenty-one", 21.0), (5, 5.0), (2.5, 2.5),
    ("4 cm", None), ("abc", None), ("", None), ("1/0", None), (True, None), (None, None),
    ("9" * 1000, math.inf),   # a hostile number never equals a real one
])
def test_parse_number(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("There are four cubes and 3.5 spheres", [4.0, 3.5]),
    ("1,000 items", [1000.0]),
    ("3-4", [3.0, 4.0]),
    ("v2 is not a number, x1 neither", []),
    ("half is 1/2 or \\frac{1}{2}", [0.5, 0.5]),
    ("someone", []),
    ("4 " + "9" * 100, [4.0, math.inf]),
])
def test_find_numbers(text, expected):
    assert find_numbers(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("[10, 20, 30.5, 40]", [(10.0, 20.0, 30.5, 40.0)]),
    ('{"bbox_2d": [1,2,3,4], "label": "cat"}', [(1.0, 2.0, 3.0, 4.0)]),
    ("<|box_start|>(1,2),(3,4)<|box_end|>", [(1.0, 2.0, 3.0, 4.0)]),
    ("(1, 2), (3, 4) then [5 6 7 8]", [(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0)]),
    ("[5,6,7,8] (1,2),(3,4)", [(5.0, 6.0, 7.0, 8.0), (1.0, 2.0, 3.0, 4.0)]),
    ("[1, 2, 3]", []),
    ("[1, 2, 3, " + "9" * 100 + "]", []),
])
def test_parse_boxes(text, expected):
    assert parse_boxes(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("B", "B"), ("(B)", "B"), ("B.", "B"), ("b", "B"), ("[C]", "C"), ("B)", "B"),
    ("B. 140°", "B"), ("(D) 150°", "D"), ("Option C", "C"), ("The answer is (D)", "D"),
    ("**A**", "A"),
    ("A B C D", None), ("A or B", None), ("140°", None), ("E", None), ("", None),
])
def test_parse_choice_letter(text, expected):
    assert parse_choice_letter(text, 4) == expected


def test_parse_choice_letter_without_choice_count_accepts_any_letter():
    assert parse_choice_letter("F", None) == "F"


@pytest.mark.parametrize("a, b", [
    ("Golden_Retriever", "golden retriever"), ("golden-retriever", "GOLDEN RETRIEVER"),
    ("cat.", "Cat"), ("Ｃａｔ", "cat"),
])
def test_normalize_label_equal(a, b):
    assert normalize_label(a) == normalize_label(b) != ""


def test_normalize_label_rejects_non_labels():
    assert normalize_label("") == ""
    assert normalize_label("x" * 5000) == ""
    assert normalize_label(None) == ""


def test_completion_text_accepts_conversational_form():
    assert completion_text("plain") == "plain"
    assert completion_text([{"role": "assistant", "content": "hi"}]) == "hi"
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert completion_text(parts) == "ab"
    assert completion_text(None) == ""


def test_select_answer_sources():
    assert select_answer("<answer> 4 </answer>", "block") == "4"
    assert select_answer(" 4 ", "whole") == "4"
    assert select_answer(" 4 ", "block") is None
    with pytest.raises(ValueError):
        select_answer("x", "everything")


HOSTILE = {
    "million digits": "1" * 100_000,
    "nested braces": "{" * 50_000 + "}" * 50_000,
    "unclosed boxed": "\\boxed{" * 14_000,
    "whitespace run": "<" + " " * 99_999,
    "answer words": "answer " * 14_000,
    "many numbers": "1 " * 50_000,
    "many tags": "<answer>" * 12_000,
    "box prefixes": "[1, 2, 3" * 12_000,
    "letters": "A. " * 33_000,
    "NUL bytes": "\x00" * 100_000,
    "surrogates": "\ud800" * 100_000,
    "power tower": "9**9**9**9",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_parsers_are_fast_on_hostile_input(name):
    text = HOSTILE[name]
    start = time.perf_counter()
    for fn in (extract_answer_block, extract_boxed, extract_answer_phrase, parse_number,
               find_numbers, parse_boxes, normalize_label):
        fn(text)
    parse_choice_letter(text, 4)
    assert time.perf_counter() - start < 1.0
