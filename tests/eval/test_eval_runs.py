"""Traceable runs, refused stale resumes, and bad input named and skipped (eval and verify)."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from gpg_vl.eval.cli import add_arguments, run

PARSER = add_arguments(argparse.ArgumentParser(prog="gpg-vl eval"))


def cli(*argv) -> int:
    return run(PARSER.parse_args([str(a) for a in argv]))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from gpg_vl.models.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "qwen2_vl", family="qwen2_vl", seed=0)


def superclevr_folder(folder: Path, superclevr_file: Path, n: int, edit=None) -> Path:
    """R1-V's layout: the rows file, images under a separate root at ``image_path``."""
    from PIL import Image

    rows = [json.loads(line) for line in superclevr_file.read_text().splitlines()][:n]
    if edit:
        rows = edit(rows)
    (folder / "prompts").mkdir(parents=True)
    data = folder / "prompts" / "superclevr.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for r in rows:
        path = folder / "playground" / r["image_path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 48), (10, 200, 10)).save(path)
    return data


GEN = ("--max-new-tokens", 4, "--batch-size", 2, "--min-pixels", 56 * 56, "--max-pixels",
       112 * 112, "--device", "cpu", "--dtype", "float32")


def test_run_records_settings_and_refuses_a_stale_resume(tmp_path, tiny_model, superclevr_file, capsys):
    data = superclevr_folder(tmp_path, superclevr_file, 3)
    out = tmp_path / "out"
    args = ("--benchmark", "superclevr", "--model", tiny_model, "--data", data, "--image-root",
            tmp_path / "playground", "--out", out, "--limit", 2, *GEN)
    assert cli(*args) == 0
    summary = json.loads((out / "summary.json").read_text())
    run_info = summary["run"]
    assert run_info["rows_used"] == "2 of 3" and run_info["model"] == str(tiny_model)
    assert run_info["max_new_tokens"] == 4 and run_info["data"] == str(data)
    assert run_info["prompt_template"] is None and run_info["protocol"] == "strict"
    assert run_info["gpg_vl_version"] and "commit" in run_info and "gpg-vl" in run_info["command"]
    report = (out / "report.md").read_text()
    assert "| rows_used | 2 of 3 |" in report and "| strict (reported below) |" in report

    # another token limit into the same folder: refused before anything is generated
    before = (out / "predictions.jsonl").read_text()
    changed = [a if a != 4 else 8 for a in args]
    assert cli(*changed) == 2
    assert "max_new_tokens: 4 -> 8" in capsys.readouterr().err
    assert (out / "predictions.jsonl").read_text() == before
    # --overwrite starts afresh with the new settings
    assert cli(*changed, "--overwrite") == 0
    assert json.loads((out / "summary.json").read_text())["run"]["max_new_tokens"] == 8


def test_a_question_holding_a_vision_token_is_named_and_skipped(tmp_path, tiny_model, superclevr_file):
    def poison(rows):
        rows[1]["question"] = "How many <|image_pad|> objects?"
        return rows

    data = superclevr_folder(tmp_path, superclevr_file, 3, poison)
    out = tmp_path / "out"
    args = ("--benchmark", "superclevr", "--model", tiny_model, "--data", data, "--image-root",
            tmp_path / "playground", "--out", out, *GEN)
    assert cli(*args) == 0
    assert cli(*args) == 0  # resuming replays nothing
    summary = json.loads((out / "summary.json").read_text())
    assert summary["count"] == 3
    assert summary["missing_fields"]["items"] == [
        {"id": json.loads(data.read_text().splitlines()[1])["image_path"],
         "fields": ["question (holds <|image_pad|>)"]}]


def test_score_names_unreadable_lines_and_scores_the_rest(tmp_path, superclevr_file, capsys):
    rows = [json.loads(line) for line in superclevr_file.read_text().splitlines()][:3]
    lines = [json.dumps(dict(r, response=f"<answer>{r['ground_truth']}</answer>")) for r in rows]
    lines.insert(1, "[1, 2, 3]")
    lines.insert(2, "{not json")
    file = tmp_path / "preds.jsonl"
    file.write_text("\n".join(lines) + "\n")
    assert cli("score", "--benchmark", "superclevr", "--predictions", file, "--out", tmp_path / "o") == 1
    err = capsys.readouterr().err
    assert f"{file}:2: expected a JSON object, got list" in err and f"{file}:3: not JSON" in err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["count"] == 3 and summary["correct"] == 3 and len(summary["skipped_lines"]) == 2


def test_malformed_lisa_records_are_named_and_the_rest_scored(tmp_path, capsys):
    good = {"image_path": "ok.jpg", "boxes": [[10, 10, 50, 50]], "image_size": [100, 100],
            "response": "<answer>(100,100),(500,500)</answer>"}
    preds = [good, dict(good, image_path="size.jpg", image_size=["wide", 3]),
             dict(good, image_path="box.jpg", boxes=[[1, 2, "x", 4]]),
             dict(good, image_path="flat.jpg", boxes=7)]
    file = tmp_path / "lisa.jsonl"
    file.write_text("".join(json.dumps(p) + "\n" for p in preds))
    assert cli("score", "--benchmark", "lisa", "--predictions", file, "--out", tmp_path / "o",
               "--box-frame", "qwen2_vl") == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    bad = {item["id"]: item["error"] for item in summary["bad_records"]["items"]}
    assert set(bad) == {"size.jpg", "box.jpg", "flat.jpg"}
    assert "image_size" in bad["size.jpg"] and "box" in bad["box.jpg"]
    assert summary["correct"] == 1


def test_verify_accepts_columns_named_completions_and_prompts(tmp_path):
    from gpg_vl.cli import main

    rows = [{"completion": "<answer>4</answer>", "answer": "4", "completions": ["x"], "prompts": "p"}]
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["verify", "--verifier", "counting", "--input", str(src), "--output", str(dst)]) == 0
    assert json.loads(dst.read_text())["reward"] == 1.0


def test_official_protocol_is_refused_where_no_scorer_is_ported(tmp_path, capsys):
    file = tmp_path / "p.jsonl"
    file.write_text(json.dumps({"id": 0, "task": "counting", "problem": "How many?", "answer": "2",
                                "response": "2"}) + "\n")
    assert cli("score", "--benchmark", "samples", "--predictions", file, "--out", tmp_path / "o",
               "--protocol", "official") == 2
    assert "no official scorer" in capsys.readouterr().err


def test_r1v_layout_needs_its_image_root(tmp_path, superclevr_file, capsys):
    data = superclevr_folder(tmp_path, superclevr_file, 2)
    shutil.rmtree(tmp_path / "prompts" / "playground", ignore_errors=True)
    rc = cli("--benchmark", "superclevr", "--model", tmp_path / "no-model", "--data", data,
             "--out", tmp_path / "o")
    assert rc == 2 and "nothing was generated" in capsys.readouterr().err
