"""``choice``: letters, letter with text, choice text; hedges earn nothing (issue 3)."""
import json
from pathlib import Path

import pytest

from gpg_vl.verifiers import get_verifier
from gpg_vl.verifiers.choice import correct_letters, score_choice

CHOICES = ["135°", "140°", "145°", "150°"]  # answer B = 140° (GeoQA-style)


@pytest.mark.parametrize("answer_text, expected", [
    ("B", 1.0), ("(B)", 1.0), ("B.", 1.0), ("b", 1.0), ("B)", 1.0), ("Option B", 1.0),
    ("B. 140°", 1.0), ("(B) 140°", 1.0), ("140°", 1.0), ("140", 1.0), ("140 degrees", 1.0),
    ("B. 145°", 0.0),          # the letter says B, the text says C: a hedge
    ("C", 0.0), ("145°", 0.0),
    ("A B C D", 0.0), ("B or C", 0.0), ("", 0.0), ("E", 0.0), ("14", 0.0),
])
def test_choice_table(answer_text, expected):
    completion = f"<think>...</think><answer>{answer_text}</answer>"
    assert score_choice(completion, "B", CHOICES) == expected


def test_gold_given_as_choice_text():
    # MathVista stores the choice text as the answer.
    completion = "<answer>B</answer>"
    assert score_choice(completion, "140°", CHOICES) == 1.0
    assert score_choice(completion, "145°", CHOICES) == 0.0


def test_letter_only_without_choices():
    assert score_choice("<answer>(C)</answer>", "C") == 1.0
    assert score_choice("<answer>D</answer>", "C") == 0.0
    assert score_choice("<answer>140°</answer>", "C") == 0.0  # no choices: text cannot resolve


def test_no_block_or_two_blocks_scores_zero():
    assert score_choice("B", "B", CHOICES) == 0.0
    assert score_choice("<answer>B</answer><answer>B</answer>", "B", CHOICES) == 0.0
    assert score_choice("B", "B", CHOICES, answer_source="whole") == 1.0


def _mathvista(pid):
    path = Path(__file__).parents[3] / "shared/benchmarks/mathvista/testmini.json"
    if not path.exists():
        pytest.skip("benchmark records not available")
    return json.loads(path.read_text())[pid]


def test_mathvista_letters_as_choice_texts():
    # pid 10: the choice texts are the letters themselves; the answer "E" is option E.
    record = _mathvista("10")
    assert record["choices"] == ["A", "B", "C", "D", "E"]
    assert score_choice("<answer>E</answer>", record["answer"], record["choices"]) == 1.0
    assert score_choice("<answer>(D)</answer>", record["answer"], record["choices"]) == 0.0
    # pid 342: lower-case letter texts
    record = _mathvista("342")
    assert score_choice("<answer>D</answer>", record["answer"], record["choices"]) == 1.0


def test_mathvista_duplicate_choices_are_all_correct():
    record = _mathvista("781")  # choices 9, 12, 18, 18; answer 18
    assert correct_letters(record["answer"], record["choices"]) == {"C", "D"}
    for text, expected in [("C", 1.0), ("D", 1.0), ("18", 1.0), ("B", 0.0), ("12", 0.0)]:
        assert score_choice(f"<answer>{text}</answer>", record["answer"], record["choices"]) == expected


def test_gold_that_is_neither_letter_nor_choice_counts_a_warning():
    from gpg_vl.verifiers import reset_warning_counts, warning_counts
    reset_warning_counts()
    verifier = get_verifier("choice")
    rewards = verifier(None, ["<answer>B</answer>", "<answer>B</answer>"],
                       answer=["B", "nonsense"], choices=[CHOICES, CHOICES])
    assert rewards == [1.0, 0.0]
    assert warning_counts() == {"choice": 1}
