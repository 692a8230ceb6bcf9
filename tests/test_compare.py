"""``gpg-vl compare``: aggregation over seeds on hand-computed numbers, variant parsing, the
table's failed-run rows, and one tiny end-to-end compare (2 variants x 2 seeds, one failing)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gpg_vl.compare import (CompareError, RunResult, Variant, error_line, eval_curve, markdown, parse_variant,
                            spread, task_metrics)
from gpg_vl.compare_plot import band

REPO = Path(__file__).resolve().parents[1]


def test_spread_on_hand_computed_numbers():
    s = spread([0.6, 1.0, 0.8])
    # mean 0.8; deviations -0.2, 0.2, 0; sample variance (0.04 + 0.04) / 2 = 0.04; std 0.2
    assert s.mean == pytest.approx(0.8) and s.std == pytest.approx(0.2)
    assert (s.lo, s.hi, s.n) == (0.6, 1.0, 3)
    one = spread([0.25])
    assert (one.mean, one.std, one.lo, one.hi, one.n) == (0.25, 0.0, 0.25, 0.25, 1)
    # a missing figure (a task absent from a run) is left out, not counted as 0
    s = spread([1.0, None, float("nan"), 0.0])
    assert (s.mean, s.n) == (0.5, 2) and s.std == pytest.approx(math.sqrt(0.5))
    assert spread([]) is None and spread([None]) is None


def test_band_is_pointwise_mean_min_max_and_tolerates_a_short_run():
    mean, lo, hi = band([[0.0, 1.0, 2.0], [2.0, 3.0], [1.0, float("nan"), 5.0]])
    assert mean == pytest.approx([1.0, 2.0, 3.5])
    assert lo == [0.0, 1.0, 2.0] and hi == [2.0, 3.0, 5.0]
    assert band([]) == ([], [], [])


def evaluation(cls, cnt, iou, fmt=1.0):
    return {"by_task": {"classification": {"format": fmt, "classification": cls, "n": 4},
                        "counting": {"format": fmt, "counting": cnt, "n": 4},
                        "grounding": {"format": fmt, "grounding_iou": iou, "n": 4}}}


def test_task_metrics_picks_each_task_figure_and_eval_curve_orders_steps():
    assert task_metrics(evaluation(0.5, 0.25, 0.1)) == {"classification": 0.5, "counting": 0.25, "grounding": 0.1}
    assert task_metrics({"by_task": {"all": {"format": 0.9, "n": 2}}}) == {"all": 0.9}
    two = {"by_task": {"geo": {"format": 1.0, "math": 0.5, "choice": 0.25, "n": 2}}}
    assert task_metrics(two) == {"geo/math": 0.5, "geo/choice": 0.25}
    summary = {"before": evaluation(0.2, 0.2, 0.2), "evals": [{"step": 5, **evaluation(0.4, 0.3, 0.3)}],
               "after": evaluation(0.9, 0.8, 0.7), "steps": 10}
    assert [s for s, _ in eval_curve(summary)] == [0, 5, 10]
    assert eval_curve(summary)[-1][1]["classification"] == 0.9


def test_parse_variant_and_its_errors():
    assert parse_variant("gpg") == Variant("gpg", ())
    v = parse_variant("grpo: 'algorithm={name: grpo, use_alpha: false}' train.lr=1e-5")
    assert v == Variant("grpo", ("algorithm={name: grpo, use_alpha: false}", "train.lr=1e-5"))
    for bad in (": train.lr=1", "a/b: train.lr=1", "x: train.lr", "x: 'unclosed"):
        with pytest.raises(CompareError):
            parse_variant(bad)


def test_error_line_prefers_the_cli_error_then_the_traceback_tail():
    assert error_line("noise\ngpg-vl train: error: bad key 'train.lrr'\n", 2) == "bad key 'train.lrr'"
    assert error_line("Traceback (most recent call last):\n  x\nRuntimeError: boom\n\n", 1) == "RuntimeError: boom"
    assert error_line("", 137) == "exit code 137, no output"


def test_markdown_table_aggregates_seeds_and_lists_failed_runs():
    def ok(seed, after, wall):
        return RunResult("gpg", seed, wall, summary={"before": evaluation(0.25, 0.25, 0.25), "after": after,
                                                     "steps": 300})
    results = [ok(0, evaluation(1.0, 0.6, 0.5), 100.0), ok(1, evaluation(0.8, 1.0, 0.7), 140.0),
               RunResult("grpo", 0, 3.0, error="algorithm.name must be one of ['gpg'], got 'x'"),
               RunResult("grpo", 1, 2.0, error="RuntimeError: boom")]
    md = markdown(results)
    row = next(ln for ln in md.splitlines() if ln.startswith("| gpg |"))
    # classification mean 0.9, std sqrt(0.02) = 0.1414; counting 0.8 +- 0.2828; wall 120 +- 28
    assert "| 2/2 | 0.90 ± 0.14 (0.80-1.00) | 0.80 ± 0.28 (0.60-1.00) | 0.60 ± 0.14 (0.50-0.70) |" in row
    assert row.endswith("| 300 ± 0 (300-300) | 120 ± 28 (100-140) |")
    assert "| grpo | 0/2 | - | - | - | - | - |" in md
    assert "| gpg | 1 | 0.25 -> 0.80 | 0.25 -> 1.00 | 0.25 -> 0.70 | 140 |" in md
    assert "- grpo seed 0: failed: algorithm.name must be one of ['gpg'], got 'x'" in md
    assert "- grpo seed 1: failed: RuntimeError: boom" in md


@pytest.mark.slow
def test_tiny_compare_end_to_end_reports_the_failed_variant(tiny_dirs, synthetic_data, tmp_path, capsys):
    """2 variants x 2 seeds through the real command: the good one trains (in subprocesses) and
    is tabled and plotted; the broken one fails at config load and is reported, not fatal."""
    from gpg_vl.cli import main

    out = tmp_path / "cmp"
    code = main(["compare", "--config", str(REPO / "configs" / "demo.yaml"), "--out", str(out), "--seeds", "0", "1",
                 "--jobs", "2", "--variant", "gpg", "--variant", "broken: algorithm.name=nope",
                 f"model.path={tiny_dirs['qwen2_vl']}", f"data.train={synthetic_data['train']}",
                 f"data.test={synthetic_data['test']}", "warmup.steps=0", "train.steps=2", "train.eval_every=1",
                 "train.prompts_per_step=2", "rollout.num_generations=2", "rollout.max_new_tokens=4",
                 "train.eval_limit=3", "train.tensorboard=false", "train.micro_batch_size=4"])
    assert code == 1  # not every run finished
    md = (out / "compare.md").read_text()
    assert "| gpg | 2/2 |" in md and "| broken | 0/2 |" in md
    assert "- broken seed 0: failed:" in md and "algorithm.name" in md.split("- broken seed 0: failed:")[1]
    for seed in (0, 1):
        assert (out / "gpg" / f"seed-{seed}" / "summary.json").is_file()
        assert json.loads((out / "gpg" / f"seed-{seed}" / "config.json").read_text())["train"]["seed"] == seed
    runs = json.loads((out / "compare.json").read_text())
    assert [(r["variant"], r["seed"], r["error"] is None) for r in runs] == \
        [("gpg", 0, True), ("gpg", 1, True), ("broken", 0, False), ("broken", 1, False)]
    assert [s for s, _ in eval_curve(runs[0]["summary"])] == [0, 1, 2]
    png = (out / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "compare.md" in capsys.readouterr().out


def test_compare_argument_errors_exit_2(capsys, tmp_path):
    from gpg_vl.cli import main

    assert main(["compare", "--out", str(tmp_path)]) == 2
    assert "--config" in capsys.readouterr().err
    assert main(["compare", "--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path)]) == 2
    assert "none.yaml" in capsys.readouterr().err
    assert main(["compare", "--preset", "demo", "--variant", "a", "--variant", "a", "--out", str(tmp_path)]) == 2
    assert "names must differ" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--jobs", "--threads"])
@pytest.mark.parametrize("value", ["0", "-2"])
def test_jobs_and_threads_must_be_positive(capsys, tmp_path, flag, value):
    from gpg_vl.cli import build_parser

    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["compare", "--preset", "demo", flag, value, "--out", str(tmp_path)])
    assert stop.value.code == 2
    assert f"{flag}: must be 1 or more, got {int(value)}" in capsys.readouterr().err


def test_a_run_without_its_summary_is_failed_not_fatal(tmp_path):
    from gpg_vl.compare import read_result

    r = read_result("gpg", 0, tmp_path, 1.0, 0, "")
    assert not r.ok and "summary.json" in r.error
    r = read_result("gpg", 0, tmp_path, 1.0, 2, "gpg-vl train: error: no such file: x.jsonl\n")
    assert r.error == "no such file: x.jsonl"


def test_collect_tabulates_runs_already_on_disk(tmp_path, capsys):
    """``--collect`` trains nothing: a finished run is read back (summary.json, metrics.jsonl), a
    missing one is reported failed, and the table and the PNG are written."""
    from gpg_vl.cli import main

    run = tmp_path / "gpg" / "seed-0"
    run.mkdir(parents=True)
    summary = {"before": evaluation(0.25, 0.25, 0.25), "after": evaluation(1.0, 0.5, 0.75), "steps": 3,
               "evals": [], "wall_seconds": 12.0}
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": i, "reward": 0.1 * i}) + "\n" for i in (1, 2, 3)))
    code = main(["compare", "--collect", "--variant", "gpg", "--seeds", "0", "1", "--out", str(tmp_path)])
    assert code == 1
    md = (tmp_path / "compare.md").read_text()
    assert "| gpg | 1/2 | 1.00 | 0.50 | 0.75 | 3 | 12 |" in md
    assert f"- gpg seed 1: failed: no finished run in {tmp_path / 'gpg' / 'seed-1'}" in md
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"
