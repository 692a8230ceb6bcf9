"""Config values are checked when the config is built: ranges and finiteness, each a one-line
error naming the key; YAML input is bounded (size, alias expansion)."""
from __future__ import annotations

import pytest

from gpg_vl.config import Config, ConfigError, load_config
from gpg_vl.config.loader import MAX_YAML_BYTES
from gpg_vl.config.validate import check_launch


def error_of(overrides, path=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(Config, path, list(overrides))
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("override, key", [
    ("train.lr=inf", "train.lr"), ("train.lr=1e6", "train.lr"), ("train.lr=.nan", "train.lr"),
    ("train.lr=0", "train.lr"), ("train.lr=-1e-5", "train.lr"),
    ("rollout.temperature=.nan", "rollout.temperature"), ("rollout.temperature=0", "rollout.temperature"),
    ("rollout.temperature=-1", "rollout.temperature"), ("rollout.temperature=inf", "rollout.temperature"),
    ("rollout.top_p=0", "rollout.top_p"), ("rollout.top_p=-0.5", "rollout.top_p"),
    ("rollout.top_p=1.5", "rollout.top_p"), ("rollout.top_p=.nan", "rollout.top_p"),
    ("rewards=[{name: format, tasks: []}]", "rewards[0].tasks"),
    ("rewards=[{name: format, weight: .inf}]", "rewards[0].weight"),
    ("train.max_grad_norm=.nan", "train.max_grad_norm"), ("train.weight_decay=-1", "train.weight_decay"),
    ("train.adam_betas=[0.9, 1.0]", "train.adam_betas[1]"), ("train.adam_betas=[0.9]", "train.adam_betas"),
    ("train.log_every=0", "train.log_every"), ("train.save_every=-1", "train.save_every"),
    ("train.keep_last=-2", "train.keep_last"), ("train.max_consecutive_skips=0", "train.max_consecutive_skips"),
    ("train.max_no_update_steps=0", "train.max_no_update_steps"),
    ("warmup.steps=2", None),  # valid: a control
    ("warmup.lr=inf", None),  # warm-up off: its lr is unused (still a valid config)
    ("model.min_pixels=100", None),
])
def test_out_of_range_values_name_the_key(override, key):
    if key is None:
        load_config(Config, None, [override])
        return
    assert f"{key} must" in error_of([override])


def test_warmup_lr_is_checked_when_the_warmup_runs():
    assert "warmup.lr must" in error_of(["warmup.steps=2", "warmup.lr=inf"])


def test_pixel_bounds_must_be_ordered():
    assert "model.min_pixels" in error_of(["model.min_pixels=1000", "model.max_pixels=10"])


def test_launch_checks_name_the_key():
    cfg = load_config(Config, None, ["train.prompts_per_step=4", "rewards=[{name: format}]",
                                     "train.output_dir=x"])
    check_launch(cfg, num_processes=2)  # 4 / 2: fine
    with pytest.raises(ValueError, match=r"train.prompts_per_step=4 is not divisible by the 3 processes"):
        check_launch(cfg, num_processes=3)
    with pytest.raises(ValueError, match=r"^rewards is empty"):
        check_launch(load_config(Config, None, ["train.output_dir=x"]), num_processes=1)
    with pytest.raises(ValueError, match=r"^train.output_dir is required"):
        check_launch(load_config(Config, None, ["rewards=[{name: format}]"]), num_processes=1)


def test_launch_reads_the_launchers_world_size(monkeypatch):
    cfg = load_config(Config, None, ["train.prompts_per_step=3", "rewards=[{name: format}]", "train.output_dir=x"])
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="2 processes"):
        check_launch(cfg)


BOMB = "\n".join([f"l0: &l0 [{', '.join(['lol'] * 9)}]"] + [
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]) + "\ndata:\n  adapter_options: {x: *l8}\n"


def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)  # 9^9 = 387 million strings once expanded
    message = error_of([], path)
    assert "aliases" in message and len(message) < 300


def test_a_moderate_alias_is_still_allowed(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("rewards: [&f {name: format, options: {mode: answer_only}}, *f]\n")
    assert [r.name for r in load_config(Config, path).rewards] == ["format", "format"]


def test_an_oversized_yaml_file_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * MAX_YAML_BYTES + "\n")
    assert "at most" in error_of([], path)


def test_a_long_bad_value_is_not_repeated_in_the_error():
    message = error_of(["train.lr=" + "a" * 100_000])
    assert "train.lr" in message and len(message) < 400


def test_an_override_that_is_not_yaml_is_one_line():
    message = error_of(["data.prompt_template={problem} and more"])
    assert "data.prompt_template" in message and "quote" in message
