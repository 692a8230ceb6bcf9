"""A resumed run shows every step once in every log: TensorBoard, metrics.jsonl, samples.jsonl.

A run killed after its last checkpoint has already logged the steps it then repeats on resume.
The expected logs are written out by hand here; TensorBoard is read back with its own reader.
"""
from __future__ import annotations

import json
import time

import pytest

from gpg_vl.trainer.output_dir import OutputPlan, apply_output_plan
from gpg_vl.trainer.sinks import make_sinks

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def log_steps(out, steps, scale, *, append, first_step):
    sinks = make_sinks(["tensorboard"], out, append=append, config={}, first_step=first_step)
    for step in steps:
        for sink in sinks:
            sink.log(step, {"step": step, "loss": float(step * scale)})
    for sink in sinks:
        sink.close()


def test_tensorboard_hides_the_steps_a_resumed_run_logs_again(tmp_path):
    log_steps(tmp_path, [1, 2, 3, 4], 1, append=False, first_step=0)  # killed after step 4, saved at 2
    time.sleep(1.1)  # event files are named by the second they were opened in
    log_steps(tmp_path, [3, 4, 5], 10, append=True, first_step=2)
    acc = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0),
                                                                (5, 50.0)]


def write_jsonl(path, steps):
    path.write_text("".join(json.dumps({"step": s, "completion": f"c{s}"}) + "\n" for s in steps))


def steps_in(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_resume_cuts_the_sample_tables_back_like_the_metrics(tmp_path):
    write_jsonl(tmp_path / "metrics.jsonl", [1, 2, 3, 4])
    write_jsonl(tmp_path / "samples.jsonl", [1, 1, 2, 3, 3, 4])  # tables of 2 rows at steps 1 and 3
    apply_output_plan(OutputPlan(out=tmp_path, checkpoint=tmp_path / "checkpoints" / "step-000002",
                                 clear=False, resumed_step=2), _cfg())
    assert steps_in(tmp_path / "metrics.jsonl") == [1, 2]
    assert steps_in(tmp_path / "samples.jsonl") == [1, 1, 2]


def test_overwrite_removes_the_earlier_run_s_sample_tables(tmp_path):
    write_jsonl(tmp_path / "metrics.jsonl", [1, 2])
    write_jsonl(tmp_path / "samples.jsonl", [1, 2])
    apply_output_plan(OutputPlan(out=tmp_path, checkpoint=None, clear=True), _cfg())
    assert not (tmp_path / "metrics.jsonl").exists()
    assert not (tmp_path / "samples.jsonl").exists()


def _cfg():
    from gpg_vl.config import Config, load_config

    return load_config(Config, None, ["model.path=unused", "data.train=unused.jsonl"])
