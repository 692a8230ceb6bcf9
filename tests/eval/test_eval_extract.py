"""The shared answer-extraction layer on the real records, in the free-text forms models write."""
from __future__ import annotations

import pytest

from gpg_vl.eval.benchmarks import get_benchmark
from gpg_vl.eval.extract import find_answer, numbers_in, read_number
from gpg_vl.eval.scoring import score_predictions

MATHVISTA = get_benchmark("mathvista")


def _mc(records, pid="46"):
    return next(r for r in records if r["pid"] == pid)


def _verdicts(bench, record, responses, protocol="strict"):
    rows, _ = score_predictions(bench, [dict(record, response=r) for r in responses], protocol)
    return [r["correct"] for r in rows]


@pytest.mark.parametrize("response", [
    "The answer is C, as the eggs would never hatch.",
    "Looking at the food web... C because the eggs would not hatch.",
    "C is the correct answer.",
    "The answer is:\nC",
    "Let me think.\nThe correct option letter is C.",
    "The correct answer is: **(C) Adults spider population would decrease**",
    "From the picture, I think it's C.",
    "Answer: C\n\nExplanation: option (A) cannot be right.",
    "At first glance the answer is A. However, that is wrong. The answer is C.",
])
def test_letters_in_free_text_are_read(mathvista_records, response):
    record = _mc(mathvista_records)
    assert record["choices"].index(record["answer"]) == 2  # C
    assert _verdicts(MATHVISTA, record, [response]) == [True]


@pytest.mark.parametrize("response", [
    "I'm sorry, but I cannot determine the answer from this image.",  # refusal: no similarity
    "The answer is either C or A.",
    "<answer>C</answer><answer>A</answer>",
    "It could be \\boxed{C} or \\boxed{A}.",
    "The spider population is (A) Adult spider population would remain the same",
    "Answer: C. Adult spider population would double.",  # letter C, text of B: two answers
])
def test_refusals_hedges_and_other_options_are_never_credited(mathvista_records, response):
    record = _mc(mathvista_records)
    assert _verdicts(MATHVISTA, record, [response]) == [False]


def test_similarity_only_for_short_text_close_to_one_choice(mathvista_records):
    record = _mc(mathvista_records)
    long_text = ("Thinking about the food web, the spiders, the insects and the eggs, the adult "
                 "spider population would perhaps change in some way over the years. " * 3)
    assert _verdicts(MATHVISTA, record, ["adults spider populaton would decrease", long_text]) == [
        True, False]


@pytest.mark.parametrize("text, value", [
    ("The answer is 14 because the sides are 16 minus 2", 14.0),
    ("The answer is \u22123.", -3.0),
    ("\u22123", -3.0),
    ("Total = 1,234 people", 1234.0),
    ("The share is 45%.", 45.0),
    ("So x = 2 + 3 = 5.", 5.0),
    ("The length is 12 cm. Then CD is 4 cm longer, so CD is 16 cm.", 16.0),
    ("\\boxed{\\frac{1}{2}}", 0.5),
    ("There are two bars with values smaller than 0.", 2.0),
    ("The total cost is $1,500.", 1500.0),
    ("The answer is 5.\n\nQuestion: How many apples are left?\nThe answer is 3.", 5.0),
])
def test_numbers_from_free_text(text, value):
    assert read_number(text)[1] == value


@pytest.mark.parametrize("text", ["<answer>3</answer><answer>4</answer>", "The answer is 3 or 4.",
                                  "I cannot determine the value."])
def test_numeric_hedges_and_refusals_have_no_value(text):
    assert read_number(text)[1] is None


def test_the_statement_nearest_the_end_wins():
    assert find_answer("The answer is 3.\nWait, recount: the answer is 4.").text == "4"
    assert find_answer("\\boxed{3} ... so the final answer: \\boxed{4}").text == "4"


def test_free_form_mathvista_value_not_the_last_number(mathvista_records):
    record = next(r for r in mathvista_records if r["answer_type"] == "integer" and r["answer"] == "14")
    assert _verdicts(MATHVISTA, record, ["The answer is 14 because 16 minus 2 is 14, not 2."]) == [True]
    negative = next(r for r in mathvista_records if r["answer"] == "-3")
    assert _verdicts(MATHVISTA, negative, ["The value is \u22123.", "The value is 3."]) == [True, False]


def test_hedged_tags_score_nothing_on_every_benchmark(geoqa_file, superclevr_file, mathvista_records):
    superclevr = get_benchmark("superclevr")
    row = superclevr.load(str(superclevr_file))[0]
    gt = int(row["ground_truth"])
    assert _verdicts(superclevr, row, [f"<answer>{gt}</answer><answer>{gt + 1}</answer>",
                                       f"<answer>{gt + 1}</answer><answer>{gt}</answer>"]) == [False, False]
    free = next(r for r in mathvista_records if r["answer_type"] == "integer")
    a = int(free["answer"])
    assert _verdicts(MATHVISTA, free, [f"<answer>{a - 1}</answer><answer>{a}</answer>"]) == [False]


def test_untagged_answers_read_alike_on_every_benchmark(geoqa_file, superclevr_file):
    geoqa, superclevr, cvbench = (get_benchmark(n) for n in ("geoqa", "superclevr", "cvbench"))
    g = geoqa.load(str(geoqa_file))[0]
    s = superclevr.load(str(superclevr_file))[0]
    c = {"idx": 0, "answer": "(B)", "choices": ["1", "2", "3", "4"], "question": "How many?",
         "source": "COCO", "task": "Count", "type": "2D"}
    untagged = "Let me think about it.\nThe answer is {}."
    assert _verdicts(geoqa, g, [untagged.format(g["ground_truth"])]) == [True]
    assert _verdicts(superclevr, s, [untagged.format(s["ground_truth"])]) == [True]
    assert _verdicts(cvbench, c, [untagged.format("B"), "B because two are visible."]) == [True, True]


def test_long_digit_runs_are_no_numbers():
    found = numbers_in("9" * 100_000)  # capped input: head and tail, each an over-long run
    assert found and all(v == float("inf") for _, v in found)


@pytest.mark.parametrize("response, letter", [
    # Chinese conclusions as ChatGPT / GPT-4 / Claude write them on the GeoQA-style records
    ("所以，CD = AB / 2 = 10 / 2 = 5\n\n所以，答案是 A (5)。", "A"),
    ("∠FAE=180°-70°=110°\n\n因此,答案为C。", "C"),
    ("* 所以EF = BC = 8\n\n所以答案是C", "C"),
    ("所以，CD的长为5，答案选项为A。", "A"),
    ("所以，∠BCH的大小为30°，选项为C。", "C"),
    ("因此，CD的长为5，选项A正确。", "A"),
    ("* 综上,S△ABC = 8\n\n所以选项B是正确答案。", "B"),
    ("所以 △BCD 是一个等边三角形\nBD = BC = 2\n\n因此,BD 的长为 2,选 C。", "C"),
    ("所以DE的长是7。\n\n答案是7，对应选项是(D)。", "D"),
])
def test_chinese_answer_statements(response, letter):
    from gpg_vl.eval.choices import read_choice

    assert read_choice(response, ["5", "6", "8", "10"])[1] == ord(letter) - ord("A")


@pytest.mark.parametrize("text, value", [
    # a chat model's answer in markdown bold, explained afterwards with other numbers
    ("The military expenditure value was lower than 0.2% in **1970**.\n\nAccording to the "
     "image, the expenditure was 0.1% in 1970 and rose to 0.3% by 1985.", 1970.0),
    ("The median number of grocery stores is **5**. Half of the towns have 5 or fewer stores, "
     "and half of the towns have 6 or more grocery stores.", 5.0),
    # a table or code after the conclusion is supporting material, not the answer
    ("Therefore, the most accurate algorithm is 100% - 20% = 80% more accurate.\n\nHere is a "
     "table:\n\nAlgorithm | Accuracy\n------- | --------\nWheat | 100%\nNiece | 20%\n", 80.0),
    ("So the total is 18.\n```python\ndef cost(oval, star):\n    return 2 * oval + 2 * star\n"
     "print(cost(4, 5))\n```\n", 18.0),
    # MathVista's prompt asks for "the final value": "and the final value is 2"
    ("In 2008, 2011 and 2014 imports were above average, and the final value is 2. Those years "
     "are 2008 and 2014 only.", 2.0),
])
def test_bold_tables_and_final_value(text, value):
    assert read_number(text)[1] == value


def test_an_introduction_to_the_answer_is_no_statement():
    text = ("Okay, here is the answer with the final value:\n\nThe model has 9 dots divided into "
            "3 equal groups. There are 3 dots in each group.")
    assert read_number(text)[1] == 3.0


@pytest.mark.parametrize("text, value", [
    # the answer after a closed <think> block wins over guesses stated inside it
    ("<think>\nFirst estimate: the answer is 37. Hmm, recount...\n</think>\n\n**34**", 34.0),
    ("<think>\nMaybe 9.\n</think>\nThe answer is $\\boxed{1{,}200}$.", 1200.0),
    ("The area is $\\boxed{12 \\, \\text{cm}^2}$.", 12.0),
    ("So the measure of the angle is $\\boxed{45^\\circ}$.", 45.0),
    # a response cut off while thinking states nothing
    ("<think>\nThe bars show 12 and 15. I need to check which one the question asks about", None),
])
def test_reasoning_model_markup(text, value):
    assert read_number(text)[1] == value


@pytest.mark.parametrize("response, index", [
    ("<think>\nFirst guess: the answer is A. Wait, no.\n</think>\n\nB", 1),
    ("The final answer is $\\boxed{\\text{B}}$.", 1),
    ("Hence the correct choice is \\(\\boxed{\\textbf{(C)}}\\).", 2),
    ("Therefore, the answer is $\\boxed{60^\\circ}$.", 3),  # the option "60*\\degree" -> no
    ("<think>\nThe options are A and B; let me check the axis before deciding", None),
])
def test_reasoning_model_choices(response, index):
    from gpg_vl.eval.choices import read_choice

    assert read_choice(response, ["15°", "30°", "45°", "60°"])[1] == index


@pytest.mark.parametrize("text, value", [
    ("I cannot determine the age gap between the two people from this image.", None),
    ("Without the scale the chart is unclear, so I cannot determine the exact value of 12 bars.", None),
    ("It cannot be 3, because the bars are taller. Counting them again gives 5 bars in all.\n"
     "Adding the two hidden ones, the total comes to 7.", 7.0),  # an early "cannot" is no refusal
])
def test_a_final_refusal_states_no_number(text, value):
    assert read_number(text)[1] == value
