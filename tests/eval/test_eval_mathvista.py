"""MathVista scoring on all 1,000 real testmini records."""
from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from gpg_vl.eval.benchmarks import get_benchmark
from gpg_vl.eval.scoring import score_predictions

BENCH = get_benchmark("mathvista")


def right_forms(record: dict) -> list[str]:
    """The record's own answer in the common forms a model writes it."""
    a = str(record["answer"])
    forms = [a, f"<think>Reasoning.</think> <answer>{a}</answer>", f"So we get \\boxed{{{a}}}.",
             f"Let me think.\nThe answer is {a}.", f"<answer>\\boxed{{{a}}}</answer>"]
    if record["question_type"] == "multi_choice":
        letter = chr(ord("A") + record["choices"].index(record["answer"]))
        forms += [letter, f"({letter})", f"<answer>{letter}</answer>", f"The answer is {letter}.",
                  f"\\boxed{{{letter}}}", f"<answer>({letter}) {a}</answer>"]
    return forms


def wrong_forms(record: dict) -> list[str]:
    """A wrong value in the same forms: another choice, answer + 1, the last unit changed."""
    a, kind = record["answer"], record["answer_type"]
    if record["question_type"] == "multi_choice":
        index = next(i for i, c in enumerate(record["choices"]) if c != a)
        letter, text = chr(ord("A") + index), record["choices"][index]
        return [text, letter, f"<answer>{letter}</answer>", f"The answer is {text}.",
                f"\\boxed{{{letter}}}"]
    if kind == "list":
        values = json.loads(a)
        values[-1] += 1
        wrong = str(values)
    elif kind == "integer":
        wrong = str(int(a) + 1)
    else:
        places = int(record["precision"])
        wrong = f"{float(a) + 10 ** -places:.{places}f}"
    return [wrong, f"<answer>{wrong}</answer>", f"\\boxed{{{wrong}}}", f"The answer is {wrong}."]


def _failures(records, forms, expect: bool):
    preds = [dict(r, response=f) for r in records for f in forms(r)]
    rows, _ = score_predictions(BENCH, preds)
    return [(p["pid"], p["response"], r["prediction"]) for p, r in zip(preds, rows)
            if r["correct"] is not expect]


def test_every_record_scores_its_own_answer_correct(mathvista_records):
    assert len(mathvista_records) == 1000
    assert _failures(mathvista_records, right_forms, expect=True) == []


def test_every_record_scores_a_wrong_value_wrong(mathvista_records):
    assert _failures(mathvista_records, wrong_forms, expect=False) == []


def hub_copy(records):
    """As ``AI4Math/MathVista`` serves them: precision as a float (1.0), query inline."""
    out = copy.deepcopy(records)
    for r in out:
        if r["precision"] is not None:
            r["precision"] = float(r["precision"])
    return out


def test_hub_float_precision_still_scores_all_float_items(mathvista_records):
    floats = [r for r in hub_copy(mathvista_records) if r["answer_type"] == "float"]
    assert len(floats) == 40 and all(isinstance(r["precision"], float) for r in floats)
    assert _failures(floats, right_forms, expect=True) == []
    # the rounding is the record's: 1.24 -> 1.2 for pid 1 (precision 1)
    rows, _ = score_predictions(BENCH, [dict(floats[0], response="<answer>1.24</answer>")])
    assert rows[0]["correct"] and rows[0]["prediction"] == "1.2"


def test_list_answers_compare_as_numbers(mathvista_records):
    lists = [r for r in mathvista_records if r["answer_type"] == "list"]
    assert [r["pid"] for r in lists] == ["225", "506"]
    rows, _ = score_predictions(BENCH, [
        dict(lists[1], response="<answer>[2014,2016]</answer>"),
        dict(lists[1], response="The peak is between 2014 and 2016: [2014, 2016]"),
        dict(lists[1], response="<answer>[2016, 2014]</answer>"),
    ])
    assert [r["correct"] for r in rows] == [True, True, False]


@pytest.mark.parametrize("response, correct", [
    ("(b)", True),  # the choice text "(b)" is choice E, not letter B
    ("E", True),
    ("(B)", False),  # letter B is the choice "(a)"
    ("", False),
    ("<answer></answer>", False),  # an empty extraction is never mapped to a choice
])
def test_choice_text_before_letter(mathvista_records, response, correct):
    record = next(r for r in mathvista_records if r["pid"] == "168")
    assert record["choices"] == ["(c)", "(a)", "(e)", "(d)", "(b)"] and record["answer"] == "(b)"
    rows, _ = score_predictions(BENCH, [dict(record, response=response)])
    assert rows[0]["correct"] is correct


def test_closest_choice_by_edit_distance(mathvista_records):
    record = next(r for r in mathvista_records if r["pid"] == "46")
    answer = record["answer"]
    typo = answer.replace("population", "populaton")  # one letter off this choice only
    rows, _ = score_predictions(BENCH, [dict(record, response=f"<answer>{typo}</answer>")])
    assert rows[0]["prediction"] == answer and rows[0]["correct"]


def test_summary_counts_match_the_records(mathvista_records):
    preds = [dict(r, response=str(r["answer"])) for r in mathvista_records]
    rows, summary = score_predictions(BENCH, preds)
    assert summary["count"] == 1000 and summary["overall"] == 1.0
    assert len(rows) == 1000 and [r["pid"] for r in rows] == [r["pid"] for r in mathvista_records]
    b = summary["breakdowns"]
    assert {k: v["count"] for k, v in b["question_type"].items()} == {
        "free_form": 460, "multi_choice": 540}
    assert {k: v["count"] for k, v in b["answer_type"].items()} == {
        "float": 40, "integer": 418, "list": 2, "text": 540}
    for key in ("task", "grade", "language", "source", "category", "context"):
        expected = Counter(r["metadata"][key] for r in mathvista_records)
        assert {k: v["count"] for k, v in b[key].items()} == dict(expected), key
    skills = Counter(s for r in mathvista_records for s in r["metadata"]["skills"])
    assert {k: v["count"] for k, v in b["skills"].items()} == dict(skills)
    assert sum(v["count"] for v in b["skills"].values()) > 1000  # an item counts per skill
    assert summary["missing_fields"]["count"] == 0


def test_missing_field_is_reported_by_pid_and_scored_wrong(mathvista_records):
    preds = [dict(r, response=str(r["answer"])) for r in mathvista_records[:10]]
    del preds[3]["answer"]
    preds[5]["choices"] = None if preds[5]["question_type"] == "multi_choice" else preds[5]["choices"]
    del preds[7]["response"]
    rows, summary = score_predictions(BENCH, preds)
    assert summary["count"] == 10 and len(rows) == 10
    flagged = {item["id"]: item["fields"] for item in summary["missing_fields"]["items"]}
    assert flagged[preds[3]["pid"]] == ["answer"]
    assert flagged[preds[7]["pid"]] == ["response"]
    assert summary["missing_fields"]["count"] == len(flagged)
    assert summary["correct"] == 10 - len(flagged)
    assert all(not r["correct"] for r in rows if r["pid"] in flagged)


def test_loads_queries_from_the_release_folder(mathvista_file):
    records = BENCH.load(str(mathvista_file.parent))
    assert len(records) == 1000 and all(r["query"] for r in records)
    assert BENCH.problem(records[0]).startswith("Hint: Please answer the question requiring a float")


@pytest.mark.parametrize("response, correct", [
    ("Spiders feed on the insects...\nSo the correct option is C.", True),
    ("Spiders feed on the insects...\nC", True),
    ("Spiders feed on the insects...\nAdults spider population would decrease", True),
    ("Spiders feed on the insects...\nSo the correct option is B.", False),
])
def test_choice_at_the_end_of_free_text(mathvista_records, response, correct):
    record = next(r for r in mathvista_records if r["pid"] == "46")
    assert record["choices"].index(record["answer"]) == 2  # C
    rows, _ = score_predictions(BENCH, [dict(record, response=response)])
    assert rows[0]["correct"] is correct


def _record(records, pid):
    return next(r for r in records if r["pid"] == pid)


def _score(record, response, protocol):
    from gpg_vl.eval.scoring import score_predictions

    rows, _ = score_predictions(get_benchmark("mathvista"), [dict(record, response=response)], protocol)
    return rows[0]


@pytest.mark.parametrize("pid, response, right", [
    # no answer statement: a grader reads the option the last (else the first) sentence names
    ("854", "If the pelicans in the community were eradicated, the population that would feel "
            "the most direct effect would be the fish population. Pelicans are a top predator in "
            "the ecosystem, and their absence would cause a cascade effect on the food chain.", True),
    ("418", "If the number of grasshoppers falls, the population of spiders will most likely "
            "decrease as well. In the food chain, spiders rely on insects like grasshoppers as a "
            "primary food source, which can lead to a decrease in the spider population.", True),
    # by the option's value: "50.0" is the option "50°"; "12" among the givens 8 and 10
    ("316", "Since the given angles are AOB = 100.0 and BAC = 80.0, we can deduce that the "
            "degree of angle AAC is 50.0.", True),
    ("642", "If AB = 8 and OB = 10, the diameter of the circle is 12.", True),
    ("642", "If AB = 8 and OB = 10, the diameter of the circle is 10.", False),
    # a negation, or several options with no stated value, names nothing
    ("854", "Looking at the food web, pelicans eat many animals. It is not the fish population "
            "that would feel it the most, since they have other predators as well.", False),
    ("418", "The spiders could increase or decrease, depending on the other insects they eat; "
            "the food web has many paths between these two populations.", False),
])
def test_unstated_answers_read_from_the_last_or_first_sentence(mathvista_records, pid, response, right):
    row = _score(_record(mathvista_records, pid), response, "strict")
    assert row["correct"] is right


def test_official_reads_the_last_answered_invented_exercise(mathvista_records):
    """Few-shot runs (Claude 2-shot) go on with exercises they invent; MathVista's GPT
    extractor returns the answer of the last one answered, so the official protocol does; a
    dangling invented question leaves the answer to the question asked (IDEFICS). Strict
    always reads the answer to the question asked."""
    record = _record(mathvista_records, "206")  # choices 2, 3, 4, 5; answer 3 (B)
    invented = ("* Side PQ' looks to be about 3 times as long as PQ\n\nThe answer is B.\n\n"
                "Question: How many more eggs are needed to make 2 dozen eggs?\n\n"
                "* There are currently 9 eggs\n* 24 eggs - 9 eggs = 15 more eggs are needed\n\n"
                "Therefore, the number of more eggs needed to make 2 dozen eggs is 15.")
    official = _score(record, invented, "official")
    assert official["official_extracted"] == "15" and official["correct"] is False
    assert _score(record, invented, "strict")["correct"] is True
    dangling = "The answer is (B) 3.\n\nQuestion: What is the value of the eighth largest bar?"
    assert _score(record, dangling, "official")["correct"] is True


@pytest.mark.parametrize("response, extracted", [
    ("The scale factor is 15, which is not among the options.", "15"),  # stated, names nothing
    ("We compute 3 + 4 = 7, so the scale factor comes out to 7.", "7"),  # concluding value
])
def test_official_stand_in_returns_the_stated_value_not_the_text(mathvista_records, response, extracted):
    row = _score(_record(mathvista_records, "206"), response, "official")
    assert row["official_extracted"] == extracted


def test_agreement_report_groups_held_out_runs(mathvista_file, mathvista_records, tmp_path, capsys):
    from gpg_vl.eval.agreement import main

    record = _record(mathvista_records, "642")  # answer 12 (E)
    rows = {"642": dict(record, response="The answer is E.", true_false=True)}
    wrong = {"642": dict(record, response="The answer is A.", true_false=True)}  # verdict differs
    (tmp_path / "output_a.json").write_text(json.dumps(rows))
    (tmp_path / "output_b.json").write_text(json.dumps(wrong))
    main(["--testmini", str(mathvista_file), "--held-out", "output_b",
          str(tmp_path / "output_a.json"), str(tmp_path / "output_b.json")])
    lines = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines()}
    assert lines["output_b"].split(" | ")[1] == "held-out"
    assert lines["tuned"].rstrip(" |").endswith("100.00 | 100.00")
    assert lines["held-out"].rstrip(" |").endswith("0.00 | 0.00")
    assert lines["all"].rstrip(" |").endswith("50.00 | 50.00")


@pytest.mark.parametrize("response, right", [
    # "not enough money" answers a yes/no question with no; "not enough information" does not
    ("Erica has $1,525.00, which is not enough to buy a motorcycle that costs $998.00 and a "
     "canoe that costs $662.00. The total cost of the motorcycle and canoe is $1,659.00, "
     "exceeding Erica's available funds.", True),
    ("There is not enough data in the picture to tell what Erica can buy with her money, since "
     "the prices are cut off at the edge of the image.", False),
])
def test_yes_no_polarity_of_an_unstated_answer(mathvista_records, response, right):
    assert _score(_record(mathvista_records, "696"), response, "strict")["correct"] is right
