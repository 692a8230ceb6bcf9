"""Scoring machinery: bad input is counted, never dropped; outputs and report tables."""
from __future__ import annotations

import json

from gpg_vl.eval.benchmarks import get_benchmark
from gpg_vl.eval.extract import find_answer
from gpg_vl.eval.responses import looks_truncated
from gpg_vl.eval.scoring import score_predictions, write_outputs

SUPERCLEVR = get_benchmark("superclevr")
MATHVISTA = get_benchmark("mathvista")


def row(gt, response, path="a.png"):
    return {"image_path": path, "question": "How many?", "ground_truth": gt, "response": response}


def test_the_stated_answer_prefers_the_answer_block():
    assert find_answer("<think>maybe 3</think><answer>4</answer>").text == "4"
    assert find_answer("<answer>so \\boxed{5}</answer>").text == "5"
    assert find_answer("first 3 then \\boxed{7}").text == "7"
    assert find_answer("Answer: 8.").text == "8"
    assert find_answer("just text 9").text is None


def test_truncation_is_detected():
    assert looks_truncated("<think>a</think><answer>4")
    assert looks_truncated("we get \\boxed{\\frac{1}{2")
    assert not looks_truncated("<answer>4</answer>")
    assert not looks_truncated("\\boxed{\\frac{1}{2}} done")


def test_bad_input_is_counted_and_scored_wrong():
    preds = [row(4, "<answer>4</answer>", "ok.png"),
             row(4, "", "empty.png"),
             row(4, "<answer>4", "cut.png"),
             dict(row(4, "<answer>4</answer>", "flag.png"), truncated=True),  # runner's flag
             {"image_path": "nogt.png", "question": "q", "response": "4"},
             {"question": "q", "ground_truth": 4, "response": "4"},  # no id: reported by position
             row("four-ish", "<answer>4</answer>", "badgt.png")]
    rows, summary = score_predictions(SUPERCLEVR, preds)
    assert len(rows) == summary["count"] == 7 and summary["correct"] == 2
    assert [r["correct"] for r in rows] == [True, False, False, False, False, True, False]
    assert [r["status"] for r in rows][:5] == ["ok", "empty", "truncated", "truncated", "missing_fields"]
    assert summary["empty_responses"] == 1 and summary["truncated_responses"] == 2
    assert summary["missing_fields"] == {"count": 1, "items": [
        {"id": "nogt.png", "fields": ["ground_truth"]}]}
    assert rows[5]["image_path"] == "#5"  # no id: scored, and named by its position
    assert summary["bad_records"]["count"] == 1
    assert summary["bad_records"]["items"][0]["id"] == "badgt.png"
    assert "four-ish" in summary["bad_records"]["items"][0]["error"]


def test_outputs_and_report(tmp_path, mathvista_records):
    preds = [dict(r, response=str(r["answer"])) for r in mathvista_records[:20]]
    preds[0]["response"] = "<answer>nonsense</answer>"
    del preds[1]["answer_type"]
    rows, summary = score_predictions(MATHVISTA, preds)
    write_outputs(tmp_path, MATHVISTA, rows, summary)
    scored = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    assert [s["pid"] for s in scored] == [p["pid"] for p in preds]
    assert set(scored[2]) >= {"pid", "extracted", "prediction", "correct", "answer"}
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["overall"] == 18 / 20 and written["missing_fields"]["count"] == 1
    assert written["missing_fields"]["items"] == [{"id": preds[1]["pid"], "fields": ["answer_type"]}]
    report = (tmp_path / "report.md").read_text()
    assert "| overall accuracy (%) | 90.00 |" in report
    assert "## By skills" in report and "| question_type | count | correct | accuracy (%) |" in report
    assert f"| {preds[1]['pid']} | answer_type |" in report
