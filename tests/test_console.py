"""A console worth reading: no warning floods, progress with ETA at 80 columns or in a log file,
one start block and one end block, a skipped step that says why, strict-JSON metrics."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from gpg_vl.console import ProgressLine, progress_text, quiet_third_party

REPO = Path(__file__).resolve().parents[1]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def drawn_lines(text: str) -> list[str]:
    """What a terminal shows: each redraw (after a carriage return and erase) is one line."""
    return [seg for chunk in text.split("\n") for seg in re.split(r"\r\x1b\[K", chunk) if seg]


def test_progress_line_keeps_count_elapsed_and_eta_within_80_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "xterm")
    stream = FakeTTY()
    progress = ProgressLine("step", 1200, stream=stream)
    long_detail = "reward=0.523 valid=0.75 alpha=1.33 loss=-0.0123 gnorm=0.841 len=57.2 s/step=12.4 skipped=3"
    for step in (1, 600, 1199):
        progress.update(step, long_detail)
    progress.print("step 600/1200 a permanent line")
    progress.close()
    lines = drawn_lines(stream.getvalue())
    live = [line for line in lines if line.startswith("step ") and "eta" in line]
    assert len(live) >= 3
    for line in live:
        assert len(line) <= 80, line
        assert re.search(r"step \d+/1200 .*\d+:\d\d eta \d+:\d\d", line), line  # count, elapsed, ETA kept
    assert "step 600/1200 a permanent line" in lines


def test_progress_text_cuts_the_detail_not_the_eta():
    text = progress_text("step", 5, 20, 12.0, "x" * 200, width=80)
    assert len(text) <= 80 and text.startswith("step 5/20") and "0:12 eta 0:36" in text
    assert progress_text("step", 5, 20, 12.0, "", width=None, bar=False) == "step 5/20  25% 0:12 eta 0:36"


def test_plain_lines_with_eta_when_not_a_terminal():
    stream = io.StringIO()  # nohup / SLURM: no control characters, a line every `every` items
    progress = ProgressLine("step", 10, stream=stream, every=5)
    for step in range(1, 11):
        progress.update(step, "reward=1")
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert [line.split()[1] for line in lines] == ["5/10", "10/10"]
    assert all("eta" in line for line in lines)


SCRIPT = """
import warnings
from gpg_vl.console import quiet_third_party
quiet_third_party()
def generate():  # a library warning raised from two places, once per generation
    warnings.warn("`past_key_values` is deprecated", FutureWarning, stacklevel=1)
    warnings.warn("`past_key_values` is deprecated", FutureWarning, stacklevel=2)
for _ in range(5):
    generate()
"""


def test_a_repeated_third_party_warning_shows_once():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("past_key_values") == 1, done.stderr


def test_opening_images_leaves_the_warning_registry_alone(tmp_path):
    from PIL import Image

    from gpg_vl.data.images import open_image

    path = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(path)
    marker = warnings.filters[:]
    open_image(str(path))
    # Before: a catch_warnings() per image reset the once-per-location registry (filters version
    # bump) for the whole process, so nothing was ever deduplicated.
    assert warnings.filters == marker


@pytest.mark.slow
def test_twenty_step_run_console_is_readable(tiny_dirs, synthetic_data, tmp_path):
    out = tmp_path / "run"
    # A reward that differs within every group (row parity), so every step updates: this test is
    # about the console, and a run of degenerate steps rightly warns (trainer.health).
    reward = tmp_path / "parity.py"
    reward.write_text("def parity(completions, **kwargs):\n    return [float(i % 2) for i in range(len(completions))]\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "default", "COLUMNS": "80",
           "OMP_NUM_THREADS": "1"}
    env.pop("DS_ACCELERATOR", None)
    cmd = [sys.executable, "-m", "gpg_vl.cli", "train", f"model.path={tiny_dirs['qwen2_vl']}",
           "model.min_pixels=12544", "model.max_pixels=12544", f"data.train={synthetic_data['train']}",
           "rollout.num_generations=2", "rollout.max_new_tokens=4", "train.prompts_per_step=2",
           "train.steps=20", "train.log_every=5", f"train.output_dir={out}",
           f"rewards=[{{name: '{reward}:parity'}}]"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    console = done.stdout + done.stderr
    assert not re.search(r"deprecat|Warning|WARNING", console), console  # no warning of any kind
    assert "it/s]" not in console  # no library progress bars
    lines = done.stdout.splitlines()
    block = "\n".join(lines[:lines.index("gpg-vl train") + 11])
    for key in ("model", "data", "algorithm", "batch", "lr", "steps", "engine", "output"):
        assert re.search(rf"^  {key} +\S", block, re.M), key
    assert "24 rows kept" in block and "G=2" in block and str(out) in block
    step_lines = [line for line in lines if re.match(r"step \d+/20 ", line)]
    assert [line.split()[1] for line in step_lines][-1] == "20/20"
    assert all("eta" in line for line in step_lines)
    assert any("[skipped:" in line for line in step_lines) == any(
        json.loads(r)["skipped"] for r in (out / "metrics.jsonl").read_text().splitlines())
    assert f"model      {out / 'final'}" in done.stdout and str(out / "summary.json") in done.stdout
    assert f"rewards    {out / 'reward.png'}" in done.stdout and (out / "reward.png").stat().st_size > 0


def test_metrics_jsonl_is_strict_json(tmp_path):
    from gpg_vl.trainer.logging import MetricsLogger

    logger = MetricsLogger(tmp_path, 2, report_to=["jsonl"])
    logger.log(1, {"reward": float("nan"), "loss": float("inf"), "valid_fraction": 0.0, "skipped": 1})
    logger.close()
    text = (tmp_path / "metrics.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text
    row = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert row["reward"] is None and row["loss"] is None and row["step"] == 1


def test_image_check_progress_appears_only_when_the_check_is_slow(monkeypatch):
    import gpg_vl.console as console

    now = [100.0]
    monkeypatch.setattr(console.time, "perf_counter", lambda: now[0])
    quick, slow = io.StringIO(), io.StringIO()
    p = ProgressLine("checking data.jsonl", 1000, stream=quick, delay=2.0, every=100)
    for row in range(0, 1001, 50):
        now[0] += 0.001  # a fast check: nothing printed at all
        p.update(row)
    assert quick.getvalue() == ""
    now[0] = 100.0
    p = ProgressLine("checking data.jsonl", 1000, stream=slow, delay=2.0, every=100)
    for row in range(0, 1001, 50):
        now[0] += 0.5  # 10 s in all: lines with the ETA after the first 2 s
        p.update(row, f"{row} kept")
    lines = slow.getvalue().splitlines()
    assert lines and all(line.startswith("checking data.jsonl ") and "eta" in line for line in lines)
    assert lines[-1].startswith("checking data.jsonl 1000/1000 100%")


def test_a_resumed_run_counts_its_own_steps_and_times_only_this_session(monkeypatch):
    import gpg_vl.console as console

    now = [0.0]
    monkeypatch.setattr(console.time, "perf_counter", lambda: now[0])
    stream = io.StringIO()
    progress = ProgressLine("step", 100, stream=stream, start_done=60)  # resumed at step 60
    now[0] = 20.0
    progress.update(70, "")  # 10 steps in 20 s: 30 steps left -> 60 s
    assert stream.getvalue().strip() == "step 70/100  70% 0:20 eta 1:00"


def test_start_block_engine_line_in_plain_words():
    from types import SimpleNamespace

    from gpg_vl.trainer.report import engine

    def acc(kind, n, plugin=None, device="cpu"):
        return SimpleNamespace(distributed_type=SimpleNamespace(value=kind), num_processes=n,
                               device=SimpleNamespace(type=device), state=SimpleNamespace(deepspeed_plugin=plugin))

    assert engine(acc("NO", 1)).startswith("cpu, 1 process, ")  # not accelerate's "NO x 1"
    assert engine(acc("MULTI_CPU", 2)).startswith("cpu, 2 processes (DDP (gloo))")
    assert engine(acc("MULTI_GPU", 8, device="cuda")).startswith("cuda, 8 processes (DDP)")
    zero3 = SimpleNamespace(deepspeed_config={"zero_optimization": {"stage": 3}})
    assert engine(acc("DEEPSPEED", 2, zero3)).startswith("cpu, 2 processes (DeepSpeed ZeRO-3)")


def test_building_the_demo_model_prints_no_warning_or_progress_bar(tmp_path):
    # What every CLI command does first (``gpg_vl.cli.main``), in a fresh process where nothing has
    # imported torch yet: saving the tiny model imports DeepSpeed's accelerator probe (which warned
    # "Setting accelerator to CPU") and drew a "Writing model shards" bar.
    code = ("import sys; from pathlib import Path; from gpg_vl.console import quiet_third_party; "
            "quiet_third_party(); from gpg_vl.models.tiny import build_tiny; "
            "from gpg_vl.data.synthetic import tokenizer_corpus; "
            "build_tiny(Path(sys.argv[1]), family='qwen2_vl', seed=0, corpus=tokenizer_corpus()); print('built')")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "default", "OMP_NUM_THREADS": "1"}
    env.pop("DS_ACCELERATOR", None)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    console = done.stdout + done.stderr
    assert "built" in done.stdout
    assert not re.search(r"Warning|WARNING", console), console
    assert "it/s]" not in console, console
