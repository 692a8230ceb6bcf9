"""GeoQA (by value, math verifier) and SuperCLEVR (integer match) on the real R1-V rows."""
from __future__ import annotations

import re

from gpg_vl.eval.benchmarks import get_benchmark
from gpg_vl.eval.scoring import score_predictions

GEOQA = get_benchmark("geoqa")
SUPERCLEVR = get_benchmark("superclevr")


def forms(answer) -> list[str]:
    a = str(answer)
    return [a, f"<think>Angles add up.</think> <answer>{a}</answer>", f"So it is \\boxed{{{a}}}.",
            f"The answer is {a}."]


def bump_first_number(answer: str) -> str:
    """A different value in the same form: the first number + 1 ("2√{3}" -> "3√{3}"), or 2π."""
    if not re.search(r"\d", answer):
        return "2" + answer
    return re.sub(r"\d+", lambda m: str(int(m.group()) + 1), answer, count=1)


def test_geoqa_every_ground_truth_in_every_form_is_correct(geoqa_file):
    records = GEOQA.load(str(geoqa_file))
    assert len(records) == 754
    preds = [dict(r, response=f) for r in records for f in forms(r["ground_truth"])]
    rows, summary = score_predictions(GEOQA, preds)
    assert [(p["ground_truth"], p["response"]) for p, r in zip(preds, rows) if not r["correct"]] == []
    assert summary["count"] == 4 * 754 and summary["overall"] == 1.0


def test_geoqa_wrong_values_and_bare_coefficients_are_wrong(geoqa_file):
    records = GEOQA.load(str(geoqa_file))
    preds = [dict(r, response=f"<answer>{bump_first_number(r['ground_truth'])}</answer>")
             for r in records]
    # R1-V's scorer credits the leading number: "2" for "2√{3}", "4" for "4πcm".
    radicals = [r for r in records if re.search("[√π]", r["ground_truth"])
                and re.match(r"\d+", r["ground_truth"])]
    assert len(radicals) > 30
    preds += [dict(r, response=f"<answer>{re.match(r'[0-9.]+', r['ground_truth']).group()}</answer>")
              for r in radicals]
    rows, summary = score_predictions(GEOQA, preds)
    assert [(p["ground_truth"], p["response"]) for p, r in zip(preds, rows) if r["correct"]] == []
    assert summary["correct"] == 0


def test_geoqa_value_equivalents(geoqa_file):
    records = {r["ground_truth"]: r for r in GEOQA.load(str(geoqa_file))}
    cases = [("140°", "140 degrees"), ("2√{3}", "2\\sqrt{3}"), ("\\frac{12}{5}", "2.4"),
             ("3cm", "3"), ("65π", "65\\pi")]
    preds = [dict(records[gold], response=f"<answer>{resp}</answer>") for gold, resp in cases]
    rows, _ = score_predictions(GEOQA, preds)
    assert [r["correct"] for r in rows] == [True] * len(cases)


def test_superclevr_integer_match(superclevr_file):
    records = SUPERCLEVR.load(str(superclevr_file))
    assert len(records) == 200 and {r["ground_truth"] for r in records} <= set(range(3, 11))
    right = [dict(r, response=f) for r in records for f in forms(r["ground_truth"])]
    right += [dict(r, response=f"I see {r['ground_truth'] + 1}, no, {r['ground_truth']} objects")
              for r in records]  # free text: its last number
    rows, summary = score_predictions(SUPERCLEVR, right)
    assert summary["overall"] == 1.0 and summary["count"] == 5 * 200
    assert rows[1]["prediction"] == str(records[0]["ground_truth"])
    wrong = [dict(r, response=f) for r in records for f in
             (f"<answer>{r['ground_truth'] + 1}</answer>", str(r["ground_truth"] - 1),
              f"<answer>{r['ground_truth']} or {r['ground_truth'] + 1}</answer>", "", "<answer>")]
    rows, summary = score_predictions(SUPERCLEVR, wrong)
    assert summary["correct"] == 0
    assert summary["empty_responses"] == 200 and summary["truncated_responses"] == 200


def test_r1v_rows_use_the_image_path_as_id(superclevr_file):
    records = SUPERCLEVR.load(str(superclevr_file))
    rows, summary = score_predictions(SUPERCLEVR, [dict(r, response="4") for r in records])
    assert [r["image_path"] for r in rows] == [r["image_path"] for r in records]
    assert summary["duplicate_ids"] == 0
    assert summary["correct"] == sum(r["ground_truth"] == 4 for r in records)
