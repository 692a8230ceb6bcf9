"""``gpg-vl bench``: the reduction to medians / ratios / targets, a short smoke run of both sides
(TRL's real GRPOTrainer included), and the unpaired report when TRL cannot be imported."""
from __future__ import annotations

import json

import pytest

from gpg_vl.bench.runner import format_table, run_benchmark, summarise, targets
from gpg_vl.bench.workload import distinct_char_reward, get_workload


def record(step: float, gen: float, patches: int) -> dict:
    return {"step_seconds": step, "gen_seconds": gen, "update_seconds": step - gen, "patches": 2 * patches,
            "gen_patches": patches, "update_patches": patches, "vision_seconds": 0.1, "prompt_tokens": 100,
            "gen_prompt_tokens": 50, "update_prompt_tokens": 50, "completion_tokens": 64}


def test_summary_takes_medians_after_warmup_and_checks_targets():
    work = get_workload("tiny", prompts_per_step=2, num_generations=4)
    ours = summarise({"steps": [record(9.0, 5.0, 128), record(1.0, 0.4, 128), record(3.0, 1.0, 128),
                                record(2.0, 0.5, 128)], "peak_rss_mb": 900.0}, warmup=1, work=work)
    assert ours["step_seconds"] == 2.0 and ours["gen_seconds"] == 0.5 and ours["measured_steps"] == 3
    assert ours["gen_patches_per_prompt"] == 64  # one 112 px image per prompt
    trl = summarise({"steps": [record(6.0, 2.0, 512)] * 2, "peak_rss_mb": 1000.0}, warmup=1, work=work)
    ratios = {"step_seconds": 2.0 / 6.0, "peak_rss_mb": 0.9}
    checks = targets("tiny", work, ours, trl, ratios)
    assert checks["step_seconds_ratio"]["met"] and checks["peak_rss_ratio"]["met"]
    assert checks["gen_patches_per_prompt"]["met"]
    assert not targets("tiny", work, trl, None, {})["gen_patches_per_prompt"]["met"]  # x G is a miss


def test_unpaired_table_says_so():
    work = get_workload("tiny")
    ours = summarise({"steps": [record(1.0, 0.5, 512)], "peak_rss_mb": 900.0}, warmup=0, work=work)
    result = {"workload": "tiny", "settings": {**work.__dict__, "steps": 1, "warmup": 0, "threads": 1, "device": "cpu"},
              "gpg_vl": ours, "trl": None, "paired": False, "trl_error": "cannot import trl.GRPOTrainer",
              "ratio": {"step_seconds": None, "peak_rss": None}, "targets": targets("tiny", work, ours, None, {})}
    table = format_table(result)
    assert "UNPAIRED" in table and "cannot import trl" in table
    assert "| step seconds | 1 | - | - |" in table


def test_render_recomputes_medians_from_the_saved_steps(tmp_path, capsys):
    from gpg_vl.cli import main

    work = get_workload("tiny")
    ours = summarise({"steps": [record(5.0, 1.0, 512), record(1.0, 0.5, 512), record(3.0, 0.5, 512)],
                      "peak_rss_mb": 900.0}, warmup=1, work=work)
    result = {"workload": "tiny", "settings": {**work.__dict__, "steps": 2, "warmup": 1, "threads": 1, "device": "cpu"},
              "gpg_vl": {**ours, "step_seconds": 99.0}, "trl": None, "paired": False, "trl_error": "not run",
              "ratio": {"step_seconds": None, "peak_rss": None}, "targets": {}, "command": "gpg-vl bench"}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    assert main(["bench", "--render", str(path)]) == 0
    assert "| step seconds | 2 | - | - |" in capsys.readouterr().out  # median of 1 and 3, not the stale 99


def test_bench_reward_has_trl_signature_and_varies():
    values = distinct_char_reward(["p", "p"], [[{"role": "assistant", "content": "aaaa"}], "abcd"], task=["x", "x"])
    assert values == [1 / 5, 4 / 5]


SMOKE = dict(prompts_per_step=2, num_generations=2, max_new_tokens=4, micro_batch_size=4, rows=6)


@pytest.mark.slow
def test_smoke_run_of_both_sides(tmp_path):
    """One step each: TRL's GRPOTrainer really runs, and encodes G x the patches that gpg-vl does."""
    work = get_workload("tiny", **SMOKE)
    result = run_benchmark(work, steps=1, warmup=0, threads=1, root=tmp_path, log=lambda *_: None)
    assert result["paired"], result["trl_error"]
    ours, trl = result["gpg_vl"], result["trl"]
    assert ours["gen_patches"] == 2 * 64 and trl["gen_patches"] == 2 * 2 * 64
    assert trl["gen_prompt_tokens"] == 2 * ours["gen_prompt_tokens"]  # same prompts, each prefilled G times
    assert result["ratio"]["step_seconds"] > 0 and result["ratio"]["peak_rss"] > 0
    json.dumps(result)  # what --out writes


@pytest.mark.slow
def test_without_trl_the_bench_reports_gpg_vl_unpaired(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "fake_site" / "trl"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('trl is not installed (test)')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    from gpg_vl.cli import main

    out = tmp_path / "bench.json"
    code = main(["bench", "--workload", "tiny", "--steps", "1", "--warmup", "0", "--threads", "1",
                 "--prompts-per-step", "2", "--num-generations", "2", "--max-new-tokens", "4",
                 "--micro-batch-size", "4", "--root", str(tmp_path / "root"), "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["paired"] is False and result["trl"] is None
    assert "trl is not installed" in result["trl_error"]
    assert result["gpg_vl"]["step_seconds"] > 0 and result["gpg_vl"]["gen_patches"] == 2 * 64
    captured = capsys.readouterr()
    assert "UNPAIRED" in captured.out and "TRL's side is unavailable" in captured.err
