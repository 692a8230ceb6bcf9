"""A row that fails mid-run is skipped by name and the run goes on; a bug keeps its traceback."""
from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest

from gpg_vl.trainer.row_guard import UnusableBatch, encode_guarded


def guarded(counters, rows, encode):
    return encode_guarded(counters, "train.jsonl", rows, encode)


def encode_failing_on(bad_ids):
    def encode(rows):
        for r in rows:
            if r["id"] in bad_ids:
                raise ValueError(f"cannot process {r['id']}")
        return [r["id"] for r in rows]
    return encode


def test_a_failing_row_is_replaced_and_named():
    rows = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    counters = {}
    with pytest.warns(RuntimeWarning, match=r"skipping row id 'b' of train.jsonl .*cannot process b"):
        batch, used = guarded(counters, rows, encode_failing_on({"b"}))
    assert len(batch) == 3 and "b" not in batch and counters["bad_rows_midrun"] == 1
    assert [r["id"] for r in used] == batch


def test_a_batch_failure_no_row_explains_is_raised():
    calls = []

    def encode(rows):
        calls.append(len(rows))
        if len(rows) > 1:
            raise RuntimeError("a bug in batching")
        return rows

    with pytest.raises(RuntimeError, match="a bug in batching"):
        guarded({}, [{"id": "a"}, {"id": "b"}], encode)


def test_every_row_failing_is_one_error():
    with pytest.raises(UnusableBatch, match="every row"):
        guarded({}, [{"id": "a"}], encode_failing_on({"a"}))


@pytest.mark.slow
def test_an_image_deleted_mid_run_skips_its_row_and_the_run_finishes(tiny_dirs, synthetic_data, tmp_path, monkeypatch):
    from gpg_vl.config import Config, load_config
    from gpg_vl.trainer import loop
    from gpg_vl.verifiers import VERIFIERS

    monkeypatch.setitem(VERIFIERS, "test_len", lambda prompts, completions, **_: [
        float(len(c) % 3) for c in completions])
    rows = [json.loads(x) for x in synthetic_data["train"].read_text().splitlines()][:4]
    for i, r in enumerate(rows):
        target = tmp_path / f"img{i}.png"
        shutil.copy(synthetic_data["dir"] / r["images"][0], target)
        r["images"] = [str(target)]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    real_build = loop.build_run

    def build_then_delete(cfg):
        run = real_build(cfg)
        for i in (1, 2):
            (tmp_path / f"img{i}.png").unlink()  # passed the up-front check, gone mid-run
        return run

    monkeypatch.setattr(loop, "build_run", build_then_delete)
    cfg = load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={data}", "rollout.num_generations=2", "rollout.max_new_tokens=3",
        "rewards=[{name: test_len}]", "train.prompts_per_step=2", "train.tensorboard=false",
        f"train.output_dir={tmp_path / 'run'}", "train.steps=2"])
    with pytest.warns(RuntimeWarning, match="skipping row id"):
        summary = loop.train(cfg, log=lambda *_: None)
    assert summary["bad_rows_midrun"] >= 1 and len(summary["history"]) == 2
