"""Output folders are never clobbered; resume means resume; checkpoints are verified.

One real 2-step run (module fixture) is reused read-only by copying its folder.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import warnings

import pytest

from gpg_vl.config import Config, load_config
from gpg_vl.trainer import loop
from gpg_vl.trainer.checkpoint import (CheckpointError, complete_checkpoints, find_resume_checkpoint,
                                       save_checkpoint, verify_checkpoint, write_manifest)
from gpg_vl.trainer.loop import train
from gpg_vl.trainer.output_dir import OutputDirError, cut_metrics, plan_output
from gpg_vl.verifiers import VERIFIERS


def hash_tree(root) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def cfg_of(tiny_dirs, synthetic_data, out, *overrides: str) -> Config:
    return load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={synthetic_data['train']}", "rollout.num_generations=2", "rollout.max_new_tokens=3",
        "rewards=[{name: test_len}]", "train.prompts_per_step=2", "train.lr=1e-3", "train.tensorboard=false",
        f"train.output_dir={out}", *overrides])


@pytest.fixture(autouse=True)
def test_len(monkeypatch):
    monkeypatch.setitem(VERIFIERS, "test_len", lambda prompts, completions, **_: [
        float(len(c) % 3) for c in completions])


@pytest.fixture(scope="module")
def finished_run(tiny_dirs, synthetic_data, tmp_path_factory):
    """A finished 2-step run, save_every=0 (the default): {out, cfg overrides}."""
    VERIFIERS["test_len"] = lambda prompts, completions, **_: [float(len(c) % 3) for c in completions]
    try:
        out = tmp_path_factory.mktemp("finished") / "run"
        train(cfg_of(tiny_dirs, synthetic_data, out, "train.steps=2"), log=lambda *_: None)
    finally:
        VERIFIERS.pop("test_len", None)
    return out


def copy_of(finished_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    return out


@pytest.mark.slow
def test_save_every_0_saves_once_at_the_end(finished_run):
    assert [p.name for p in complete_checkpoints(finished_run / "checkpoints")] == ["step-000002"]
    assert verify_checkpoint(finished_run / "checkpoints" / "step-000002") is None
    state = json.loads((finished_run / "checkpoints" / "step-000002" / "gpg_vl_state.json").read_text())
    assert state["config"]["train"]["steps"] == 2  # the config it was trained with


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), ("train.lr=0.5",), ("train.resume_from=null",)])
def test_a_second_fresh_run_is_refused_and_leaves_every_file_untouched(
        finished_run, tiny_dirs, synthetic_data, tmp_path, monkeypatch, extra):
    out = copy_of(finished_run, tmp_path)
    before = hash_tree(out)
    monkeypatch.setattr(loop, "build_run", lambda cfg: pytest.fail("loaded before refusing"))
    with pytest.raises(OutputDirError, match="already holds an earlier run .*--overwrite"):
        train(cfg_of(tiny_dirs, synthetic_data, out, "train.steps=2", *extra), log=lambda *_: None)
    assert hash_tree(out) == before


@pytest.mark.slow
def test_overwrite_replaces_the_earlier_run(finished_run, tiny_dirs, synthetic_data, tmp_path):
    out = copy_of(finished_run, tmp_path)
    train(cfg_of(tiny_dirs, synthetic_data, out, "train.steps=1", "train.overwrite=true"), log=lambda *_: None)
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1]
    assert [p.name for p in complete_checkpoints(out / "checkpoints")] == ["step-000001"]


@pytest.mark.slow
def test_resume_refuses_a_changed_run_unless_allowed_and_records_what_runs(
        finished_run, tiny_dirs, synthetic_data, tmp_path, monkeypatch):
    out = copy_of(finished_run, tmp_path)
    before = hash_tree(out)
    with monkeypatch.context() as m:
        m.setattr(loop, "build_run", lambda cfg: pytest.fail("loaded before refusing"))
        for change in ("train.seed=1", "train.lr=1e-4", "rollout.num_generations=4", "algorithm.name=grpo",
                       f"data.train={synthetic_data['test']}"):
            key = change.split("=")[0]
            with pytest.raises(OutputDirError, match=f"changes the run \\({key}: .*--allow-change {key}"):
                train(cfg_of(tiny_dirs, synthetic_data, out, "train.steps=3", "train.resume_from=auto", change),
                      log=lambda *_: None)
    assert hash_tree(out) == before
    summary = train(cfg_of(tiny_dirs, synthetic_data, out, "train.steps=3", "train.resume_from=auto",
                           "train.seed=1", "train.allow_change=[train.seed]"), log=lambda *_: None)
    assert len(summary["history"]) == 1
    assert json.loads((out / "config.json").read_text())["train"]["seed"] == 1


def test_plan_output_reads_only(tmp_path):
    cfg = load_config(Config, None, [f"train.output_dir={tmp_path / 'new'}", "rewards=[{name: format}]"])
    plan = plan_output(cfg)
    assert plan.checkpoint is None and not (tmp_path / "new").exists()


def fake_checkpoint(root, step: int, payload: bytes = b"weights"):
    path = root / f"step-{step:06d}"
    (path / "trainer_state").mkdir(parents=True)
    (path / "trainer_state" / "optimizer.bin").write_bytes(payload * 100)
    (path / "model.safetensors").write_bytes(payload * 50)
    (path / "gpg_vl_state.json").write_text(json.dumps({"step": step}))
    write_manifest(path)
    return path


@pytest.mark.parametrize("damage", ["truncate", "overwrite", "delete", "manifest"])
def test_resume_names_a_damaged_checkpoint_and_falls_back(tmp_path, damage):
    root = tmp_path / "checkpoints"
    fake_checkpoint(root, 1)
    newest = fake_checkpoint(root, 2)
    target = newest / "model.safetensors"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:10])
    elif damage == "overwrite":  # same size, other bytes
        target.write_bytes(b"X" * target.stat().st_size)
    elif damage == "delete":
        target.unlink()
    else:
        (newest / "manifest.json").write_text("{torn")
    with pytest.warns(RuntimeWarning, match="step-000002.*falling back to step-000001"):
        assert find_resume_checkpoint("auto", str(tmp_path)) == root / "step-000001"
    with pytest.raises(CheckpointError, match="step-000002"):
        find_resume_checkpoint(str(newest), "unused")


def test_no_intact_checkpoint_is_an_error_naming_the_files(tmp_path):
    root = tmp_path / "checkpoints"
    only = fake_checkpoint(root, 3)
    (only / "trainer_state" / "optimizer.bin").write_bytes(b"")
    with pytest.raises(CheckpointError, match="optimizer.bin has 0 bytes"):
        find_resume_checkpoint("auto", str(tmp_path))


def test_a_save_killed_before_its_manifest_is_never_listed(tmp_path):
    root = tmp_path / "checkpoints"
    fake_checkpoint(root, 1)
    (fake_checkpoint(root, 2) / "manifest.json").unlink()
    assert [p.name for p in complete_checkpoints(root)] == ["step-000001"]


def test_metrics_are_cut_back_to_the_resumed_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "loss": 0.1} for s in (1, 2, 3, 4, 3, 4)]  # a killed run relogged 3, 4
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 5, "lo')  # torn line
    cut_metrics(path, 2)
    assert [json.loads(x)["step"] for x in path.read_text().splitlines()] == [1, 2]


class _Acc:
    is_main_process = True

    def wait_for_everyone(self):
        pass

    def save_state(self, path):
        raise OSError(28, "No space left on device", path)


def test_a_full_disk_says_so_in_one_line_and_frees_space(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from gpg_vl.trainer import checkpoint

    root = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        fake_checkpoint(root, step)
    monkeypatch.setattr(checkpoint, "export_policy", lambda run, path: (path / "model.safetensors").write_bytes(b"x"))
    run = SimpleNamespace(accelerator=_Acc(), cfg=SimpleNamespace(train=SimpleNamespace(
        output_dir=str(tmp_path), keep_last=2)))
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(run, 4, {})
    message = str(info.value)
    assert "\n" not in message and "out of disk space" in message and "step-000004" in message
    assert not (root / "step-000004.tmp").exists()  # the partial save is gone
    # Pruned to keep_last - 1 before writing, so that the new one fits within keep_last.
    assert [p.name for p in complete_checkpoints(root)] == ["step-000003"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert find_resume_checkpoint("auto", str(tmp_path)) == root / "step-000003"


def test_cli_flags_set_overwrite_and_allowed_changes(tmp_path, monkeypatch):
    from gpg_vl import cli
    from gpg_vl.trainer import loop as loop_module

    seen = {}
    monkeypatch.setattr(loop_module, "train", lambda cfg: seen.setdefault("cfg", cfg))
    assert cli.main(["train", "--overwrite", "--allow-change", "train.seed", "--allow-change", "data",
                     f"train.output_dir={tmp_path}", "rewards=[{name: format}]"]) == 0
    assert seen["cfg"].train.overwrite is True and seen["cfg"].train.allow_change == ["train.seed", "data"]


@pytest.mark.slow
def test_cli_refuses_a_used_folder_in_one_line_touching_nothing(finished_run, tiny_dirs, synthetic_data,
                                                                 tmp_path, capsys):
    from gpg_vl import cli

    out = copy_of(finished_run, tmp_path)
    before = hash_tree(out)
    code = cli.main(["train", f"model.path={tiny_dirs['qwen2_vl']}", f"data.train={synthetic_data['train']}",
                     "rewards=[{name: format}]", f"train.output_dir={out}", "train.lr=0.5"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "already holds an earlier run" in err
    assert hash_tree(out) == before  # config.json too: lr 0.5 is not written beside the old run


def test_prune_renames_before_deleting_and_clears_leftovers(tmp_path):
    root = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        fake_checkpoint(root, step)
    leftover = root / "step-000000.pruned"  # a kill landed mid-delete last time
    (leftover / "trainer_state").mkdir(parents=True)
    from gpg_vl.trainer.checkpoint import prune

    prune(root, 2)
    assert sorted(p.name for p in root.iterdir()) == ["step-000002", "step-000003"]
