"""The ``gpg-vl`` command, called in-process: exit codes, one-line errors, and each subcommand."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gpg_vl.cli import main

REPO = Path(__file__).resolve().parents[1]
DEMO = str(REPO / "configs" / "demo.yaml")


def test_unknown_config_key_exits_2_naming_the_key(capsys):
    assert main(["train", "--config", DEMO, "train.lrr=1"]) == 2
    err = capsys.readouterr().err
    assert "train.lrr" in err and DEMO in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_wrong_type_and_missing_file_exit_2(capsys, tmp_path):
    assert main(["train", "--config", DEMO, "rollout.num_generations=x"]) == 2
    assert "rollout.num_generations" in capsys.readouterr().err
    missing = str(tmp_path / "nope.yaml")
    assert main(["train", "--config", missing]) == 2
    assert missing in capsys.readouterr().err


def test_deepspeed_flag_sets_what_accelerate_launch_would(capsys, tmp_path, monkeypatch):
    """``gpg-vl train --deepspeed FILE`` (for torchrun): a missing file or a second source of the
    DeepSpeed config is a one-line error; a good one sets accelerate's DeepSpeed variables."""
    from gpg_vl.cli import MIXED_PRECISION, use_deepspeed_config

    for key in ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_DEEPSPEED_CONFIG_FILE", "ACCELERATE_MIXED_PRECISION"):
        monkeypatch.setenv(key, "x")  # records the original state, which the undo restores...
        monkeypatch.delenv(key)  # ...so what use_deepspeed_config sets below does not leak
    missing = str(tmp_path / "ds.json")
    assert main(["train", "--config", DEMO, "--deepspeed", missing]) == 2
    assert missing in capsys.readouterr().err

    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # as under accelerate launch --use_deepspeed
    assert main(["train", "--config", DEMO, "--deepspeed", str(REPO / "configs/deepspeed/zero2.json")]) == 2
    assert "accelerate launch already configured DeepSpeed" in capsys.readouterr().err

    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED")
    use_deepspeed_config(str(REPO / "configs/deepspeed/zero3.json"), MIXED_PRECISION["bfloat16"])
    import os

    assert os.environ["ACCELERATE_USE_DEEPSPEED"] == "true"
    assert os.environ["ACCELERATE_DEEPSPEED_CONFIG_FILE"] == str(REPO / "configs/deepspeed/zero3.json")
    assert os.environ["ACCELERATE_MIXED_PRECISION"] == "bf16"


def test_describe_config_prints_every_key(capsys):
    assert main(["train", "--describe-config"]) == 0
    out = capsys.readouterr().out
    for key in ("model.path", "rollout.num_generations", "algorithm.beta_th", "warmup.steps", "train.lr"):
        assert f"\n{key} = " in "\n" + out, key


def test_build_tiny(tmp_path, capsys):
    out = tmp_path / "tiny25"
    assert main(["build-tiny", "--family", "qwen2_5_vl", "--out", str(out), "--seed", "1"]) == 0
    assert str(out) in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["model_type"] == "qwen2_5_vl"
    assert json.loads((out / "gpg_vl_tiny.json").read_text())["seed"] == 1
    assert (out / "model.safetensors").is_file()


def test_make_data_synthetic(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["make-data", "synthetic", "--out", str(out), "--train-per-task", "2",
                 "--test-per-task", "1", "--seed", "5"]) == 0
    assert len((out / "train.jsonl").read_text().splitlines()) == 6
    assert len((out / "test.jsonl").read_text().splitlines()) == 3
    assert len(list((out / "images").rglob("*.png"))) == 9
    assert "seed 5" in (out / "README.md").read_text()


def test_bad_arguments_are_argparse_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main(["make-data", "imagenet", "--out", "x"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["build-tiny", "--family", "llava", "--out", "x"])


def test_missing_model_path_exits_2_naming_it(capsys, synthetic_data, tmp_path):
    missing = str(tmp_path / "no-such-model")
    code = main(["train", "--config", DEMO, f"model.path={missing}", f"data.train={synthetic_data['train']}",
                 "data.test=null", "warmup.steps=0", f"train.output_dir={tmp_path / 'run'}"])
    assert code == 2
    assert missing in capsys.readouterr().err


@pytest.mark.slow
def test_demo_end_to_end_on_prepared_inputs(tiny_dirs, synthetic_data, tmp_path, capsys, monkeypatch, request):
    import torch

    from gpg_vl.trainer import loop

    out = tmp_path / "demo"
    shutil.copytree(tiny_dirs["qwen2_vl"], out / "tiny-model")  # present: the demo does not rebuild
    shutil.copytree(synthetic_data["dir"], out / "data")
    request.addfinalizer(lambda previous=torch.get_num_threads(): torch.set_num_threads(previous))
    torch.set_num_threads(2)  # the test process's own setting, as on a 2-core machine
    seen, real_train = [], loop.train
    monkeypatch.setattr(loop, "train", lambda cfg: seen.append(torch.get_num_threads()) or real_train(cfg))
    code = main(["demo", "--out", str(out), "--threads", "1", "warmup.steps=1", "warmup.batch_size=2", "train.steps=1",
                 "train.prompts_per_step=2", "rollout.num_generations=2", "rollout.max_new_tokens=4",
                 "train.eval_limit=3", "train.tensorboard=false", "train.micro_batch_size=4"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["steps"] == 1 and report["skipped_steps"] in (0, 1)
    # one thread while training (a reproducible run), the caller's setting back afterwards
    assert seen == [1] and report["threads"] == 1 and torch.get_num_threads() == 2
    for phase in ("before", "after"):
        assert set(report[phase]) == {"classification", "counting", "grounding_miou"}
        assert all(0.0 <= v <= 1.0 for v in report[phase].values())
    assert (out / "reward.png").stat().st_size > 0
    md = (out / "report.md").read_text()
    assert "| grounding_miou |" in md and "![reward per step](reward.png)" in md
    assert (out / "final" / "model.safetensors").is_file()
    assert "built the tiny policy" not in capsys.readouterr().out


def test_demo_takes_a_family_and_keeps_its_images_at_4_x_4_tokens():
    from gpg_vl.cli import build_parser
    from gpg_vl.demo import pixel_overrides
    from gpg_vl.families import FAMILIES

    assert build_parser().parse_args(["demo", "--family", "qwen3_vl"]).family == "qwen3_vl"
    assert build_parser().parse_args(["demo"]).family == next(iter(FAMILIES))
    assert build_parser().parse_args(["demo"]).threads is None  # torch's own default
    assert build_parser().parse_args(["demo", "--threads", "2"]).threads == 2
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--threads", "0"])
    # 112 px = 4 x 28 px tokens (patch 14); 128 px = 4 x 32 px tokens (patch 16)
    assert pixel_overrides("qwen2_vl") == ["model.min_pixels=12544", "model.max_pixels=12544"]
    assert pixel_overrides("qwen3_vl") == ["model.min_pixels=16384", "model.max_pixels=16384"]
    assert set(build_parser().parse_args(["build-tiny", "--out", "x"]).__dict__) >= {"family"}
