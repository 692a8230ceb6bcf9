"""Small things users expect from the CLI and the launch scripts."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpg_vl.cli import build_parser, hub_hint, main

REPO = Path(__file__).resolve().parents[1]


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("gpg-vl ")


def test_every_option_has_help():
    parser = build_parser()
    missing = []
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.help is None and action.dest != "help":
                missing.append(f"{name} {action.option_strings or action.dest}")
    assert not missing, missing


def test_describe_config_lists_allowed_values(capsys):
    assert main(["train", "--describe-config"]) == 0
    out = capsys.readouterr().out
    assert "algorithm.name = 'gpg'" in out and "[one of: gpg, grpo, dr_grpo]" in out
    assert "data.on_bad_image" in out and "[one of: skip, error]" in out


def test_override_value_starting_with_a_brace_is_one_line(capsys):
    # Before: a 36-line yaml.parser.ParserError traceback.
    assert main(["train", "rewards={name: format"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "override 'rewards={name: format'" in err and "not valid YAML" in err


def test_dry_run_checks_model_and_data_paths(capsys, tiny_dirs, synthetic_data, tmp_path):
    ok = ["train", "--dry-run", f"model.path={tiny_dirs['qwen2_vl']}", f"data.train={synthetic_data['train']}",
          f"train.output_dir={tmp_path / 'run'}", "rewards=[{name: format}]"]
    assert main(ok) == 0
    assert "dry run OK" in capsys.readouterr().out and not (tmp_path / "run").exists()
    bad = ["train", "--dry-run", f"model.path={tmp_path / 'nope'}", f"data.train={tmp_path / 'none.jsonl'}",
           "rewards=[{name: formt}]"]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "none.jsonl" in err and "formt" in err


def test_hub_hint_names_offline_mode_and_local_folder():
    exc = OSError("Qwen/Qwen2-VL-2B-Instruct: cannot read the model config: We couldn't connect to "
                  "'https://huggingface.co' to load the files")
    hint = hub_hint(exc, {"model.path": "Qwen/Qwen2-VL-2B-Instruct"})
    assert "HF_HUB_OFFLINE=1" in hint and "--local-dir" in hint and "model.path=DIR" in hint
    assert hub_hint(OSError("disk full"), {"model.path": "Qwen/Qwen2-VL-2B-Instruct"}) is None
    # a mistyped local file is not a hub id: no hub hint
    assert hub_hint(FileNotFoundError("data file or folder not found: data/my.jsonl"),
                    {"data.train": "data/my.jsonl"}) is None
    assert "Qwen/Qwen2.5-VL-3B-Instruct" in hub_hint(
        OSError("Qwen/Qwen2.5-VL-3B-Instruct: cannot read the model config: offline mode is enabled"),
        {"model.path": "Qwen/Qwen2.5-VL-3B-Instruct"})


def test_dry_run_takes_dotted_model_names_as_hub_ids(capsys, synthetic_data, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert main(["train", "--dry-run", "model.path=Qwen/Qwen2.5-VL-3B-Instruct", f"train.output_dir={tmp_path}",
                 f"data.train={synthetic_data['train']}", "rewards=[{name: format}]"]) == 0
    assert "hub id Qwen/Qwen2.5-VL-3B-Instruct" in capsys.readouterr().out


def test_launch_script_prints_the_error_line_last(tmp_path):
    fake = tmp_path / "venv" / "bin"
    fake.mkdir(parents=True)
    # A stand-in for accelerate: the trainer's one-line error, then a launcher traceback.
    (fake / "accelerate").write_text("#!/usr/bin/env bash\n"
                                     "echo 'gpg-vl train: error: data file or folder not found: my.jsonl' >&2\n"
                                     "for i in $(seq 30); do echo \"  File launch.py, line $i\" >&2; done\n"
                                     "echo 'subprocess.CalledProcessError: returned non-zero exit status 2' >&2\n"
                                     "exit 1\n")
    (fake / "accelerate").chmod(0o755)
    # The venv's own python, by its path (a symlink elsewhere would lose the venv's packages).
    (fake / "python").write_text(f"#!/usr/bin/env bash\nexec {sys.executable} \"$@\"\n")
    (fake / "python").chmod(0o755)
    env = {**os.environ, "GPG_VL_VENV": str(tmp_path / "venv"), "PYTHONPATH": str(REPO)}
    done = subprocess.run(["bash", str(REPO / "scripts" / "train.sh"), "--model", "Qwen/Qwen2-VL-2B-Instruct",
                           "--data", "my.jsonl", "--output-dir", str(tmp_path / "run"), "--num-gpus", "1",
                           "--cpu"], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "gpg-vl train: error: data file or folder not found: my.jsonl"


def test_recipe_with_own_data_names_data_adapter_null_up_front(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATA", "CONFIG", "MODEL")}
    env.update({"GPG_VL_VENV": str(Path(sys.executable).parent.parent), "DRY_RUN": "1", "PYTHONPATH": str(REPO)})
    done = subprocess.run(["bash", str(REPO / "scripts" / "train_geoqa.sh"), "--model", "Qwen/Qwen2-VL-2B-Instruct",
                           "--data", "my.jsonl", "--output-dir", "runs/x", "--num-gpus", "1"],
                          capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "adapter 'r1v_geoqa'" in done.stderr and "data.adapter=null" in done.stderr


def test_generic_train_script_runs_custom_yaml_or_any_config():
    env = {k: v for k, v in os.environ.items() if k not in ("DATA", "CONFIG", "MODEL", "NUM_GPUS")}
    env.update({"GPG_VL_VENV": str(Path(sys.executable).parent.parent), "DRY_RUN": "1", "PYTHONPATH": str(REPO)})
    common = ["--model", "/models/my-qwen", "--data", "my.jsonl", "--output-dir", "runs/x", "--num-gpus", "1"]
    for extra, config in (([], "configs/custom.yaml"), (["--config", "configs/geoqa_qwen2vl_2b.yaml"],
                                                         "configs/geoqa_qwen2vl_2b.yaml")):
        done = subprocess.run(["bash", str(REPO / "scripts" / "train.sh"), *common, *extra], capture_output=True,
                              text=True, env=env, timeout=120, cwd=REPO)
        assert done.returncode == 0, done.stderr
        argv = done.stdout.split()
        assert argv[argv.index("--config") + 1].endswith(config)
        assert "data.train=my.jsonl" in argv and "model.path=/models/my-qwen" in argv
