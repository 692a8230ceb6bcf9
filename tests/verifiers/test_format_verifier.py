"""``format``: exact tag layout per mode; nothing but whitespace after the answer (issue 3)."""
import pytest

from gpg_vl.verifiers import get_verifier
from gpg_vl.verifiers.tag_format import score_format

THINK = [
    ("<think>reason</think><answer>B</answer>", 1.0),
    ("<think>reason</think>\n<answer>B</answer>\n  ", 1.0),       # whitespace is fine
    ("\n<think>\nreason\n</think>\n\n<answer>\n4\n</answer>", 1.0),
    ("<think></think><answer>B</answer>", 1.0),                   # empty reasoning allowed
    ("<think>r</think><answer>B</answer> and more", 0.0),         # trailing text: the collapse
    ("<think>r</think><answer>B</answer><|endoftext|>junk", 0.0),
    ("<think>r</think><answer>A</answer><answer>B</answer>", 0.0),  # repeated answer tags
    ("<think>r</think><think>s</think><answer>B</answer>", 0.0),
    ("<think>r</think>so<answer>B</answer>", 0.0),                # text between the blocks
    ("preamble<think>r</think><answer>B</answer>", 0.0),
    ("<think>r</think><answer>  </answer>", 0.0),                 # empty answer
    ("<answer>B</answer><think>r</think>", 0.0),                  # wrong order
    ("<think>r<answer>B</answer></think>", 0.0),
    ("<think>r</think><answer>B", 0.0),                           # unclosed
    ("<think>r</think><ANSWER>A</ANSWER><answer>B</answer>", 0.0),
    ("<answer>B</answer>", 0.0),
    ("", 0.0),
]


@pytest.mark.parametrize("completion, expected", THINK)
def test_think_mode(completion, expected):
    assert score_format(completion, mode="think") == expected


@pytest.mark.parametrize("completion, expected", [
    ("<answer>B</answer>", 1.0),
    ("  <answer>B</answer>\n", 1.0),
    ("<answer>B</answer> because", 0.0),
    ("so: <answer>B</answer>", 0.0),
    ("<think>r</think><answer>B</answer>", 0.0),
    ("<answer>A</answer><answer>B</answer>", 0.0),
])
def test_answer_only_mode(completion, expected):
    assert score_format(completion, mode="answer_only") == expected


@pytest.mark.parametrize("completion, expected", [
    ("reasoning...</think><answer>B</answer>", 1.0),   # the prompt opened <think>
    ("</think>\n<answer>B</answer>\n", 1.0),
    ("<think>r</think><answer>B</answer>", 0.0),       # a second <think> was not asked for
    ("reasoning...</think><answer>B</answer>!", 0.0),
    ("reasoning...<answer>B</answer>", 0.0),
])
def test_think_prefilled_mode(completion, expected):
    assert score_format(completion, mode="think_prefilled") == expected


def test_registered_function_has_trl_signature_and_modes():
    strict = get_verifier("format")
    answer_only = get_verifier("format", mode="answer_only")
    completions = ["<think>r</think><answer>B</answer>", "<answer>B</answer>"]
    assert strict(prompts=None, completions=completions) == [1.0, 0.0]
    assert answer_only(prompts=None, completions=completions) == [0.0, 1.0]


def test_bad_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="mode"):
        get_verifier("format", mode="strict")
