"""train.report_to: each backend through its own client (offline modes), the samples table
(jsonl, TensorBoard text, wandb table), strict JSON, and the reward PNG at the end."""
from __future__ import annotations

import json
import math

import pytest
import torch

from gpg_vl.config import Config, ConfigError, load_config
from gpg_vl.trainer.logging import MetricsLogger, sample_rows

BATCH = {"prompts": ["How many?", [{"role": "user", "content": [{"type": "text", "text": "Angle?"}]}]],
         "completions": ["<answer>3</answer>", [{"role": "assistant", "content": "<answer>35</answer>"}]],
         "rewards": torch.tensor([1.0, 0.2]),
         "parts": {"format": torch.tensor([1.0, 1.0]), "math": torch.tensor([math.nan, 0.0])},
         "samples": [{"id": "a", "task": "counting", "answer": "3"}, {"id": "b", "task": "math", "answer": "36"}]}


def log_two_steps(out, report_to):
    logger = MetricsLogger(out, 2, report_to=report_to, samples_every=1, samples=2, config={"train": {"lr": 1e-6}})
    logger.log(1, {"reward": 0.6, "loss": float("nan"), "skipped": 0}, batch=BATCH)
    logger.log(2, {"reward": 0.8, "loss": 0.1, "skipped": 0}, batch=BATCH)
    logger.close()


def test_samples_table_rows_read_conversational_text():
    rows = sample_rows(BATCH, 5)
    assert [r["prompt"] for r in rows] == ["How many?", "Angle?"]
    assert [r["completion"] for r in rows] == ["<answer>3</answer>", "<answer>35</answer>"]
    assert rows[0]["reward"] == 1.0 and math.isnan(rows[0]["math"]) and rows[1]["task"] == "math"


def test_jsonl_and_tensorboard_get_metrics_and_the_samples_table(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log_two_steps(tmp_path, ["jsonl", "tensorboard"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and rows[0]["loss"] is None  # strict JSON: NaN -> null
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 4 and samples[0]["math"] is None and samples[1]["math"] == 0.0 and samples[0]["step"] == 1
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"tensors": 0}).Reload()
    assert [e.step for e in events.Scalars("reward")] == [1, 2]
    text = events.Tensors("samples/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| id | task | prompt | completion |" in text and "<answer>35</answer>" in text


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="report_to.*'mlflow'.*wandb"):
        load_config(Config, None, ["train.report_to=[tensorboard, mlflow]"])


def test_missing_library_is_named_before_anything_is_written(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("no wandb")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(ValueError, match="pip install 'wandb'"):
        MetricsLogger(tmp_path / "run", 2, report_to=["jsonl", "wandb"])
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_wandb_offline_writes_a_run_directory(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")  # optional extra: pip install -e '.[wandb]'
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    log_two_steps(tmp_path, ["wandb"])
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb")), sorted(tmp_path.rglob("*"))
    tables = list(runs[0].glob("files/media/table/samples_*.table.json"))
    assert len(tables) == 2
    table = json.loads(tables[0].read_text())
    assert table["columns"][:4] == ["id", "task", "prompt", "completion"] and len(table["data"]) == 2
    assert wandb.run is None  # finished


def test_swanlab_offline_writes_a_run_directory(tmp_path, monkeypatch):
    pytest.importorskip("swanlab")  # optional extra: pip install -e '.[swanlab]'
    monkeypatch.setenv("SWANLAB_MODE", "offline")
    log_two_steps(tmp_path, ["swanlab"])
    runs = list((tmp_path / "swanlog").glob("run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.swanlab"))
    assert len(list(runs[0].glob("media/text/*.txt"))) == 2  # one samples table per step
