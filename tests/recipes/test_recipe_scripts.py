"""The launch scripts (issue 5): `--help`, usage on a missing argument, and the one command a dry
run prints -- for one GPU, one node and several nodes -- checked against the parsers that will
read it (accelerate launch, gpg-vl train / eval) and the config loader. Nothing is launched,
except in the one multi-process test (marked slow), which runs a real 2-process CPU job through
train_counting.sh with a tiny model.
"""
from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
TRAIN = sorted(SCRIPTS.glob("train_*.sh"))
EVAL = sorted(SCRIPTS.glob("eval_*.sh"))
VENV = Path(sys.executable).parent.parent
# What each train script needs beyond --model/--output-dir to pass its checks.
EXTRA = {"train_grounding.sh": ["--data", "data/samples/virft_lisa.json"]}


def run(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("MODEL", "DATA", "OUTPUT_DIR", "CONFIG", "NUM_GPUS", "NNODES", "NODE_RANK",
                         "MASTER_ADDR", "MASTER_PORT", "DEEPSPEED", "ACCELERATE_CONFIG", "DEVICE",
                         "DRY_RUN", "RESUME", "SUBSET")}
    base["GPG_VL_VENV"] = str(VENV)
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, cwd=REPO,
                          env={**base, **env}, timeout=60)


def command(result: subprocess.CompletedProcess) -> list[str]:
    """The launched command: the dry run's stdout, one shell-quoted line."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return shlex.split(lines[0])


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def train_dry_run(script: Path, *args: str, **env: str) -> list[str]:
    argv = [*args, "--model", "Qwen/Qwen2-VL-2B-Instruct", "--output-dir", "runs/t",
            *EXTRA.get(script.name, [])]
    return command(run(script, *argv, **{"DRY_RUN": "1", "NUM_GPUS": "1", **env}))


def test_scripts_present():
    assert {p.name for p in TRAIN} >= {f"train_{t}.sh" for t in
                                       ("grounding", "classification", "geoqa", "counting", "sat")}
    assert {p.name for p in EVAL} >= {f"eval_{b}.sh" for b in
                                      ("mathvista", "geoqa", "superclevr", "cvbench", "lisa", "classification")}


@pytest.mark.parametrize("script", TRAIN + EVAL, ids=lambda p: p.name)
def test_help(script):
    result = run(script, "--help")
    assert result.returncode == 0 and result.stdout.startswith("Usage:"), result.stderr
    assert "--model" in result.stdout and "--output-dir" in result.stdout
    assert run(script, "-h").stdout == result.stdout


@pytest.mark.parametrize("script", TRAIN + EVAL, ids=lambda p: p.name)
def test_missing_argument_prints_usage(script):
    result = run(script)
    assert result.returncode == 2
    assert "error: missing --model" in result.stderr and "Usage:" in result.stderr
    result = run(script, "--model", "Qwen/Qwen2-VL-2B-Instruct")
    assert result.returncode == 2 and "missing --output-dir" in result.stderr and "Usage:" in result.stderr


@pytest.mark.parametrize("script", TRAIN, ids=lambda p: p.name)
def test_multi_node_dry_run(script):
    argv = train_dry_run(script, NNODES="2", NODE_RANK="1", MASTER_ADDR="10.0.0.1", MASTER_PORT="29555")
    assert Path(argv[0]).name == "accelerate" and argv[1] == "launch"
    assert (flag(argv, "--num_machines"), flag(argv, "--machine_rank")) == ("2", "1")
    assert (flag(argv, "--main_process_ip"), flag(argv, "--main_process_port")) == ("10.0.0.1", "29555")
    assert flag(argv, "--num_processes") == "2"  # NNODES x NUM_GPUS
    assert argv[argv.index("-m") + 1:argv.index("-m") + 4] == ["gpg_vl.cli", "train", "--config"]
    task = script.stem.removeprefix("train_")
    assert flag(argv, "--config") == str(REPO / "configs" / f"{task}_qwen2vl_2b.yaml")
    assert "model.path=Qwen/Qwen2-VL-2B-Instruct" in argv and "train.output_dir=runs/t" in argv


def check_parsers(argv: list[str]) -> None:
    """accelerate launch and gpg-vl train accept the command; the config loads with its overrides."""
    from accelerate.commands.launch import launch_command_parser

    from gpg_vl.cli import build_parser
    from gpg_vl.config import Config, load_config

    m = argv.index("-m")
    acc = launch_command_parser().parse_args(argv[2:])
    assert acc.module and acc.training_script == "gpg_vl.cli"
    assert acc.training_script_args == argv[m + 2:]
    args = build_parser().parse_args(argv[m + 2:])
    assert args.command == "train"
    load_config(Config, args.config, args.overrides)


@pytest.mark.parametrize("script", TRAIN, ids=lambda p: p.name)
def test_dry_run_command_parses(script):
    check_parsers(train_dry_run(script, NNODES="2", NODE_RANK="0", MASTER_ADDR="10.0.0.1"))


@pytest.mark.parametrize("deepspeed, gpus, accelerate_yaml, ds_json", [
    ("zero2", "1", "deepspeed_zero2.yaml", "zero2.json"),
    ("zero3", "8", "deepspeed_zero3.yaml", "zero3.json"),
    ("zero3_offload", "1", "deepspeed_zero3_offload.yaml", "zero3_offload.json"),
    ("none", "1", "single_gpu.yaml", None),
    ("none", "8", "multi_gpu.yaml", None),
])
def test_deepspeed_choice(deepspeed, gpus, accelerate_yaml, ds_json):
    argv = train_dry_run(SCRIPTS / "train_geoqa.sh", "--deepspeed", deepspeed, NUM_GPUS=gpus)
    assert flag(argv, "--config_file") == str(REPO / "configs" / "accelerate" / accelerate_yaml)
    assert flag(argv, "--num_processes") == gpus and flag(argv, "--num_machines") == "1"
    if ds_json:
        assert flag(argv, "--deepspeed_config_file") == str(REPO / "configs" / "deepspeed" / ds_json)
        assert flag(argv, "--mixed_precision") == "bf16"
    else:
        assert "--deepspeed_config_file" not in argv
    check_parsers(argv)


def test_cpu_overrides_resume_and_options_as_arguments():
    argv = train_dry_run(SCRIPTS / "train_sat.sh", "--cpu", "--num-gpus=2", "--resume", "train.lr=5e-7")
    assert flag(argv, "--config_file").endswith("configs/accelerate/cpu_ddp.yaml")
    assert flag(argv, "--num_processes") == "2"
    assert argv[-2:] == ["train.resume_from=auto", "train.lr=5e-7"]  # user overrides come last


def test_model_size_picks_the_config():
    argv = command(run(SCRIPTS / "train_geoqa.sh", "--model", "/ckpt/Qwen2.5-VL-7B-Instruct/",
                       "--output-dir", "o", "--dry-run", NUM_GPUS="8"))
    assert flag(argv, "--config").endswith("configs/geoqa_qwen25vl_7b.yaml")


def test_sat_base_model_picks_the_raw_prompt_recipe():
    base = command(run(SCRIPTS / "train_sat.sh", "--model", "Qwen/Qwen2-VL-2B", "--output-dir", "o",
                       "--dry-run", NUM_GPUS="4"))
    assert flag(base, "--config") == str(REPO / "configs" / "sat_qwen2vl_2b_base.yaml")
    check_parsers(base)
    instruct = train_dry_run(SCRIPTS / "train_sat.sh")
    assert flag(instruct, "--config") == str(REPO / "configs" / "sat_qwen2vl_2b.yaml")
    chosen = command(run(SCRIPTS / "train_sat.sh", "--model", "Qwen/Qwen2-VL-2B", "--output-dir", "o",
                         "--config=configs/sat_qwen2vl_2b.yaml", "--dry-run", NUM_GPUS="4"))
    assert flag(chosen, "--config") == "configs/sat_qwen2vl_2b.yaml"  # --config wins over the name
    result = run(SCRIPTS / "train_sat.sh", "--model", "Qwen/Qwen2.5-VL-3B", "--output-dir", "o",
                 "--dry-run", NUM_GPUS="4")
    assert result.returncode == 2 and "looks like a base model" in result.stderr
    other = command(run(SCRIPTS / "train_geoqa.sh", "--model", "Qwen/Qwen2-VL-2B", "--output-dir", "o",
                        "--dry-run", NUM_GPUS="1"))  # other tasks have no base recipe: unchanged
    assert flag(other, "--config") == str(REPO / "configs" / "geoqa_qwen2vl_2b.yaml")


def test_classification_subset():
    argv = train_dry_run(SCRIPTS / "train_classification.sh", "--subset", "pets")
    assert "data.train=laolao77/ViRFT_CLS_pets37_4shot" in argv and "train.epochs=24" in argv
    # the flowers entry of the script's table is what the configs say themselves
    from gpg_vl.config import Config, load_config

    argv = train_dry_run(SCRIPTS / "train_classification.sh")
    for path in sorted((REPO / "configs").glob("classification_*.yaml")):
        cfg = load_config(Config, path)
        assert f"data.train={cfg.data.train}" in argv and f"train.epochs={cfg.train.epochs:g}" in argv
    for subset, epochs in (("aircraft", 8), ("cars", 8)):
        assert f"train.epochs={epochs}" in train_dry_run(SCRIPTS / "train_classification.sh", "--subset", subset)
    result = run(SCRIPTS / "train_classification.sh", "--model", "Qwen/Qwen2-VL-2B-Instruct",
                 "--output-dir", "o", "--subset", "dogs", "--dry-run", NUM_GPUS="1")
    assert result.returncode == 2 and "--subset must be one of" in result.stderr


@pytest.mark.parametrize("args, env, message", [
    ([], {"NNODES": "2"}, "needs --master-addr"),
    ([], {"NNODES": "2", "NODE_RANK": "2", "MASTER_ADDR": "h"}, "must be below NNODES"),
    (["--deepspeed", "zero4"], {}, "--deepspeed must be"),
    (["--num-gpus", "two"], {}, "NUM_GPUS must be"),
    (["--bogus", "1"], {}, "unknown option --bogus"),
    (["stray"], {}, "unexpected argument 'stray'"),
    (["--model", "runs/x/final"], {}, "pass --config"),
    (["--model", "Qwen/Qwen2.5-VL-7B-Instruct"], {}, "no recipe configs/counting_qwen25vl_7b.yaml"),
    (["train.bogus=1"], {}, "unknown key 'train.bogus'"),
    (["--num-gpus", "3"], {}, "does not split over 3 processes"),
])
def test_bad_input_exits_2(args, env, message):
    result = run(SCRIPTS / "train_counting.sh", "--model", "Qwen/Qwen2-VL-2B-Instruct", "--output-dir", "o",
                 "--dry-run", *args, **{"NUM_GPUS": "1", **env})
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert result.stdout == ""  # nothing that looks like a command


EVAL_DEFAULT_DATA = {"eval_mathvista.sh": "AI4Math/MathVista", "eval_cvbench.sh": "nyu-visionx/CV-Bench"}


@pytest.mark.parametrize("script", EVAL, ids=lambda p: p.name)
def test_eval_dry_run(script):
    from gpg_vl.cli import build_parser

    benchmark = script.stem.removeprefix("eval_")
    data = [] if script.name in EVAL_DEFAULT_DATA else ["--data", "some/test.jsonl"]
    argv = command(run(script, "--model", "runs/x/final", "--output-dir", "runs/eval", *data,
                       "--limit", "5", DRY_RUN="1"))
    assert argv[1:4] == ["-m", "gpg_vl.cli", "eval"]
    args = build_parser().parse_args(argv[3:])
    assert (args.benchmark, args.model, str(args.out), args.limit) == (benchmark, "runs/x/final", "runs/eval", 5)
    assert args.data == EVAL_DEFAULT_DATA.get(script.name, "some/test.jsonl")
    if script.name not in EVAL_DEFAULT_DATA:
        result = run(script, "--model", "m", "--output-dir", "o")
        assert result.returncode == 2 and "missing --data" in result.stderr and "Usage:" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_process_cpu_run_through_the_launch_script(tmp_path, tiny_dirs, synthetic_data):
    """train_counting.sh --cpu --num-gpus 2: accelerate starts 2 gloo DDP processes that train a tiny
    Qwen2-VL for 2 GPG steps with a recipe config (overrides shrink it) and save the result."""
    counting = tmp_path / "counting.jsonl"
    rows = [line for line in synthetic_data["train"].read_text().splitlines() if '"counting"' in line]
    counting.write_text("\n".join(rows) + "\n")
    (tmp_path / "images").symlink_to(synthetic_data["dir"] / "images")
    reward = tmp_path / "parity.py"  # a reward the random model's groups disagree on: real updates
    reward.write_text("def parity(prompts, completions, **columns):\n"
                      "    return [float(len(c) % 2) for c in completions]\n")
    out = tmp_path / "run"
    result = run(SCRIPTS / "train_counting.sh", "--cpu", "--num-gpus", "2",
                 "--model", str(tiny_dirs["qwen2_vl"]), "--config", "configs/counting_qwen2vl_2b.yaml",
                 "--data", str(counting), "--output-dir", str(out), "data.adapter=jsonl",
                 "model.dtype=float32", "model.min_pixels=12544", "model.max_pixels=12544",
                 "model.attn_implementation=null", "rollout.num_generations=4", "rollout.max_new_tokens=8",
                 "train.epochs=null", "train.steps=2", "train.prompts_per_step=2", "train.micro_batch_size=4",
                 "train.save_every=0", "algorithm.beta_th=null", f"rewards=[{{name: {reward}:parity}}]",
                 MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "final" / "config.json").is_file() and (out / "launch_command.sh").is_file()
    logged = (out / "metrics.jsonl").read_text().splitlines()
    assert len(logged) == 2


def checkpoint(folder: Path, model_type: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "%s"}' % model_type)
    return folder


def test_the_family_comes_from_the_checkpoint_s_config_json(tmp_path):
    """A local checkpoint's family is its config.json's model_type (not its name); the size is
    the name's; hub ids go by their release names."""
    ft = checkpoint(tmp_path / "Qwen3-VL-4B-Instruct-geoqa-step100", "qwen3_vl")
    argv = command(run(SCRIPTS / "train_geoqa.sh", "--model", str(ft), "--output-dir", "o", "--dry-run", NUM_GPUS="1"))
    assert flag(argv, "--config") == str(REPO / "configs" / "geoqa_qwen3vl_4b.yaml")
    renamed = checkpoint(tmp_path / "my-2b-run", "qwen3_5")  # config.json wins; the name gives the size
    argv = command(run(SCRIPTS / "train_counting.sh", "--model", str(renamed), "--output-dir", "o", "--dry-run",
                       NUM_GPUS="1"))
    assert flag(argv, "--config") == str(REPO / "configs" / "counting_qwen35_2b.yaml")
    result = run(SCRIPTS / "train_geoqa.sh", "--model", str(checkpoint(tmp_path / "final", "qwen3_5")),
                 "--output-dir", "o", "--dry-run", NUM_GPUS="1")
    assert result.returncode == 2 and "qwen3_5 checkpoint (config.json) of unknown size" in result.stderr
    result = run(SCRIPTS / "train_geoqa.sh", "--model", str(checkpoint(tmp_path / "llava-7b", "llava")),
                 "--output-dir", "o", "--dry-run", NUM_GPUS="1")
    assert result.returncode == 2 and "gpg_vl/families/llava.py" in result.stderr
    sat = command(run(SCRIPTS / "train_sat.sh", "--model", "Qwen/Qwen3.5-2B", "--output-dir", "o", "--dry-run",
                      NUM_GPUS="1"))  # Qwen3.5 releases have no "-Instruct": not a base model
    assert flag(sat, "--config") == str(REPO / "configs" / "sat_qwen35_2b.yaml")
    result = run(SCRIPTS / "train_geoqa.sh", "--model", "Qwen/Qwen3-VL-2B-Thinking", "--output-dir", "o",
                 "--dry-run", NUM_GPUS="1")  # its template opens <think>: the Instruct recipe does not fit
    assert result.returncode == 2 and "no recipe configs/geoqa_qwen3vl_2b_thinking.yaml" in result.stderr


def test_engine_choice_sets_the_rollout_engine():
    """--engine vllm passes rollout.engine=vllm (GPG_VL_VENV names the environment to run in);
    anything else is refused with the choices."""
    script = SCRIPTS / "train_geoqa.sh"
    base = ["--model", "Qwen/Qwen2.5-VL-3B-Instruct", "--output-dir", "/tmp/gpg_vl_engine_choice", "--dry-run"]
    cmd = command(run(script, *base, "--engine", "vllm"))
    assert "rollout.engine=vllm" in cmd
    assert not any(a.startswith("rollout.engine") for a in command(run(script, *base)))  # hf: the config's
    bad = run(script, *base, "--engine", "sglang")
    assert bad.returncode == 2 and "--engine must be hf or vllm" in bad.stderr
