"""``counting`` and ``classification``: one number / one exact label (issue 3)."""
import json
from pathlib import Path

import pytest

from gpg_vl.verifiers import get_verifier
from gpg_vl.verifiers.classification import score_classification
from gpg_vl.verifiers.counting import score_counting


def block(text):
    return f"<think>...</think><answer>{text}</answer>"


@pytest.mark.parametrize("text, gold, expected", [
    ("4", 4, 1.0), ("4.0", 4, 1.0), ("four", 4, 1.0), ("Four", "4", 1.0), ("There are 4.", 4, 1.0),
    ("4 cubes, so 4", 4, 1.0),                 # the same number twice is one number
    ("twenty-one", 21, 1.0), ("10", 10, 1.0),
    ("3 or 4", 4, 0.0), ("3 red and 4 blue", 4, 0.0),  # two different numbers earn nothing
    ("4.5", 4, 0.0), ("5", 4, 0.0), ("", 4, 0.0), ("many", 4, 0.0),
    ("4 " + "4" * 1000, 4, 0.0),               # a hostile number is a second, different number
])
def test_counting_table(text, gold, expected):
    assert score_counting(block(text), gold) == expected


def test_counting_needs_the_block():
    assert score_counting("4", 4) == 0.0
    assert score_counting("4", 4, answer_source="whole") == 1.0


def test_superclevr_ground_truths():
    path = Path(__file__).parents[3] / "shared/benchmarks/superclevr/superclevr_test200_counting_problems.jsonl"
    if not path.exists():
        pytest.skip("SuperCLEVR records not available")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    golds = [row["ground_truth"] for row in rows]
    verifier = get_verifier("counting")
    assert verifier(None, [block(str(g)) for g in golds], answer=golds) == [1.0] * len(golds)
    assert verifier(None, [block(str(g + 1)) for g in golds], answer=golds) == [0.0] * len(golds)


@pytest.mark.parametrize("text, gold, expected", [
    ("golden retriever", "Golden Retriever", 1.0), ("Golden_Retriever", "golden retriever", 1.0),
    ("golden-retriever", "golden retriever", 1.0), ("GOLDENRETRIEVER", "golden retriever", 1.0),
    ("golden retriever.", "golden retriever", 1.0),
    ("", "golden retriever", 0.0),            # Visual-RFT's substring match paid this in full
    ("retriever", "golden retriever", 0.0),   # partial label
    ("golden retriever dog", "golden retriever", 0.0),
    ("labrador", "golden retriever", 0.0),
])
def test_classification_table(text, gold, expected):
    assert score_classification(block(text), gold) == expected


def test_classification_aliases_and_label_list():
    labels = ["cat", "dog", "golden retriever"]
    aliases = {"golden retriever": ["goldie", "golden"], "cat": "kitty"}
    assert score_classification(block("Goldie"), "golden retriever", labels, aliases) == 1.0
    assert score_classification(block("kitty"), "cat", labels, aliases) == 1.0
    assert score_classification(block("kitty"), "dog", labels, aliases) == 0.0
    assert score_classification(block("wolf"), "wolf", labels) == 0.0  # outside the label list
    assert score_classification(block("dog"), ["dog", "puppy"]) == 1.0  # several gold labels


def test_classification_empty_gold_is_a_counted_warning_not_a_crash():
    from gpg_vl.verifiers import reset_warning_counts, warning_counts
    reset_warning_counts()
    verifier = get_verifier("classification")
    assert verifier(None, [block("cat"), block("cat")], answer=["", "cat"]) == [0.0, 1.0]
    assert warning_counts() == {"classification": 1}


@pytest.mark.parametrize("text, gold, exact, contains", [
    ("Golden_Retriever", "golden retriever", 1.0, 1.0),
    ("a golden retriever dog", "golden retriever", 0.0, 1.0),  # the label inside the answer
    ("retriever", "golden retriever", 0.0, 1.0),               # the answer inside the label
    ("labrador", "golden retriever", 0.0, 0.0),
    ("", "golden retriever", 0.0, 0.0),                        # Visual-RFT gives 1.0 here; gpg-vl never
])
def test_classification_contains_mode_is_visual_rfts_rule(text, gold, exact, contains):
    assert score_classification(block(text), gold) == exact
    assert score_classification(block(text), gold, match="contains") == contains


def test_classification_match_option_is_checked_when_bound():
    assert get_verifier("classification", match="contains")(None, [block("a cat")], answer=["cat"]) == [1.0]
    with pytest.raises(ValueError, match="match"):
        get_verifier("classification", match="substring")


LABELS = ["golden retriever", "labrador retriever", "cat", "black cat", "egret"]


@pytest.mark.parametrize("text, gold, score", [
    ("e", "egret", 0.0),                                   # one letter: a substring of most labels
    ("golden retr", "golden retriever", 0.0),              # not whole words
    ("retriever", "golden retriever", 0.0),                # names two labels (golden, labrador)
    ("golden retriever, labrador retriever, cat, black cat, egret", "cat", 0.0),  # every label
    ("cat or egret", "cat", 0.0),                          # a hedge between two labels
    ("a golden retriever dog", "golden retriever", 1.0),   # the label inside the answer
    ("black cat", "cat", 0.0),                             # names the longer label, not "cat"
    ("black cat", "black cat", 1.0),
    ("cat", "cat", 1.0),                                   # equal to a label: not also "black cat"
    ("Golden_Retriever", "golden retriever", 1.0),
    ("egrets", "egret", 0.0),
])
def test_contains_needs_whole_words_and_one_label(text, gold, score):
    assert score_classification(block(text), gold, labels=LABELS, match="contains") == score


def test_contains_without_a_label_list_still_needs_whole_words():
    assert score_classification(block("e"), "golden retriever", match="contains") == 0.0
    assert score_classification(block("ret"), "golden retriever", match="contains") == 0.0
    assert score_classification(block("word " * 100 + "golden retriever"), "golden retriever",
                                match="contains") == 0.0  # an essay is not a label
