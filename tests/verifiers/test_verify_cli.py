"""``gpg-vl verify``: JSONL in, JSONL plus "reward" out; malformed lines skipped by number."""
import argparse
import json

import pytest

from gpg_vl.verifiers import cli


def run_verify(tmp_path, lines, verifier, *options):
    src, dst = tmp_path / "cases.jsonl", tmp_path / "scored.jsonl"
    src.write_bytes(b"\n".join(l if isinstance(l, bytes) else l.encode() for l in lines) + b"\n")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    argv = ["--verifier", verifier, "--input", str(src), "--output", str(dst)]
    for option in options:
        argv += ["--option", option]
    code = cli.run(parser.parse_args(argv))
    scored = [json.loads(l) for l in dst.read_text().splitlines()] if dst.exists() else []
    return code, scored


def test_scores_each_line_and_keeps_its_fields(tmp_path):
    lines = [json.dumps({"completion": "<answer>4π</answer>", "answer": "4π", "id": 1}),
             json.dumps({"completion": "<answer>4</answer>", "answer": "4π", "id": 2})]
    code, scored = run_verify(tmp_path, lines, "math")
    assert code == 0
    assert scored == [{"completion": "<answer>4π</answer>", "answer": "4π", "id": 1, "reward": 1.0},
                      {"completion": "<answer>4</answer>", "answer": "4π", "id": 2, "reward": 0.0}]


def test_malformed_lines_are_reported_by_number_and_skipped(tmp_path, capsys):
    good = json.dumps({"completion": "<answer>B</answer>", "answer": "B"})
    lines = [good, "{not json", b"\xff\xfe invalid utf-8", "[1, 2]", json.dumps({"answer": "B"}),
             "", good]
    code, scored = run_verify(tmp_path, lines, "choice")
    err = capsys.readouterr().err
    assert code == 1
    assert [r["reward"] for r in scored] == [1.0, 1.0]
    for number, reason in [(2, "not valid JSON"), (3, "invalid UTF-8"), (4, "JSON object"),
                           (5, '"completion"')]:
        assert f"cases.jsonl:{number}: skipped: " in err and reason in err
    assert "cases.jsonl:6" not in err and "cases.jsonl:7" not in err  # blank line ignored
    assert "scored 2 lines" in err and "skipped 4" in err


def test_options_and_per_line_fields(tmp_path):
    lines = [json.dumps({"completion": "<answer>[156, 104, 469, 521]</answer>",
                         "bbox": [100, 50, 300, 250], "image_size": [640, 480]}),
             json.dumps({"completion": "<answer>[100, 50, 300, 250]</answer>",
                         "bbox": [100, 50, 300, 250], "image_size": [640, 480], "box_format": "pixels"})]
    code, scored = run_verify(tmp_path, lines, "grounding_iou", "reward=threshold", "threshold=0.9")
    assert code == 0
    assert [r["reward"] for r in scored] == [1.0, 1.0]


def test_hostile_text_round_trips_through_json(tmp_path):
    lines = [json.dumps({"completion": "<answer>\ud800\x00" + "9" * 10000 + "</answer>", "answer": 4})]
    code, scored = run_verify(tmp_path, lines, "counting")
    assert code == 0 and scored[0]["reward"] == 0.0


@pytest.mark.parametrize("verifier, options, message", [
    ("nope", [], "unknown verifier"),
    ("format", ["mode=strict"], "mode"),
    ("format", ["style=x"], "'style'"),
    ("format", ["novalue"], "KEY=VALUE"),
])
def test_unusable_arguments_exit_2(tmp_path, capsys, verifier, options, message):
    code, _ = run_verify(tmp_path, [json.dumps({"completion": "x"})], verifier, *options)
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_input_exits_2(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--verifier", "format", "--input", str(tmp_path / "absent.jsonl"),
                              "--output", str(tmp_path / "out.jsonl")])
    assert cli.run(args) == 2
    assert "absent.jsonl" in capsys.readouterr().err
