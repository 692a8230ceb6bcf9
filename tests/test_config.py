"""Config: YAML + dotted overrides build the typed dataclasses; every bad key or value is named."""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from gpg_vl.config import Config, ConfigError, RewardSpec, build, describe, load_config, to_dict

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "configs" / "demo.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def error_of(path, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(Config, path, list(overrides))
    return str(info.value)


# --- loading -----------------------------------------------------------------------------

def test_demo_config_loads_with_its_values():
    cfg = load_config(Config, DEMO)
    assert cfg.model.min_pixels == 12544 and cfg.model.max_pixels == 12544
    assert cfg.rollout.num_generations == 8 and cfg.rollout.max_new_tokens == 16
    assert [r.name for r in cfg.rewards] == ["format", "classification", "counting", "grounding_iou"]
    assert all(isinstance(r, RewardSpec) for r in cfg.rewards)
    assert cfg.rewards[0].weight == 0.2 and cfg.rewards[0].options == {"mode": "answer_only"}
    assert cfg.rewards[0].tasks is None and cfg.rewards[3].tasks == ["grounding"]
    assert cfg.warmup.lr == 1e-3 and isinstance(cfg.warmup.lr, float)
    assert cfg.algorithm.name == "gpg" and cfg.algorithm.beta_th == 0.4 and cfg.algorithm.max_draws == 4
    assert cfg.algorithm.aggregation == "seq-mean" and cfg.train.lr_schedule == "cosine"
    assert cfg.algorithm.adv_scale == "std" and cfg.train.vision_lr == 1e-3 and isinstance(cfg.train.vision_lr, float)
    # A key the file leaves out keeps its schema default.
    assert cfg.train.adam_betas == [0.9, 0.999] and cfg.data.on_bad_image == "skip"


def test_yaml_plus_dotted_overrides(tmp_path):
    path = write(tmp_path, "train:\n  lr: 1e-5\n  steps: 7\nrollout:\n  num_generations: 4\n")
    cfg = load_config(Config, path, ["train.steps=9", "algorithm.beta_th=0.6", "data.test=null",
                                     "train.adam_betas=[0.8, 0.95]", "data.column_map={problem: q}",
                                     "model.path=some/where", "rewards=[{name: format}]"])
    assert cfg.train.lr == 1e-5 and type(cfg.train.lr) is float  # YAML 1.1 reads "1e-5" as text
    assert cfg.train.steps == 9  # the override wins over the file
    assert cfg.rollout.num_generations == 4 and type(cfg.rollout.num_generations) is int
    assert cfg.algorithm.beta_th == 0.6
    assert cfg.data.test is None
    assert cfg.train.adam_betas == [0.8, 0.95]
    assert cfg.data.column_map == {"problem": "q"}
    assert cfg.model.path == "some/where"
    assert cfg.rewards == [RewardSpec(name="format")]


def test_int_is_accepted_for_float_and_becomes_float(tmp_path):
    cfg = load_config(Config, None, ["train.lr=1", "algorithm.beta_th=1"])
    assert type(cfg.train.lr) is float and cfg.train.lr == 1.0
    assert type(cfg.algorithm.beta_th) is float


def test_no_file_gives_the_schema_defaults():
    assert load_config(Config, None) == Config()


def test_list_defaults_are_not_shared_between_instances():
    a, b = Config(), Config()
    a.train.adam_betas.append(0.5)
    a.data.column_map["x"] = "y"
    assert b.train.adam_betas == [0.9, 0.999] and b.data.column_map == {}


def test_to_dict_round_trips():
    cfg = load_config(Config, DEMO, ["algorithm.beta_th=0.5"])
    data = to_dict(cfg)
    assert data["rewards"][1] == {"name": "classification", "weight": 1.0, "tasks": ["classification"],
                                  "options": {}}
    assert build(Config, data) == cfg


# --- errors name the key (and the file) ---------------------------------------------------

def test_unknown_key_in_file_names_key_and_file(tmp_path):
    path = write(tmp_path, "train:\n  lrr: 0.1\n")
    msg = error_of(path)
    assert "'train.lrr'" in msg and str(path) in msg


def test_unknown_section_names_it(tmp_path):
    path = write(tmp_path, "trian:\n  lr: 0.1\n")
    msg = error_of(path)
    assert "'trian'" in msg and str(path) in msg


def test_unknown_key_in_override_names_key_and_file():
    msg = error_of(DEMO, ["rollout.num_generation=4"])
    assert "'rollout.num_generation'" in msg and str(DEMO) in msg


@pytest.mark.parametrize("override, key", [
    ("train.lr=abc", "train.lr"),
    ("rollout.num_generations=x", "rollout.num_generations"),
    ("rollout.num_generations=2.5", "rollout.num_generations"),
    ("train.steps=true", "train.steps"),  # a bool is not an int here
    ("train.lr=true", "train.lr"),
    ("model.freeze_vision=1", "model.freeze_vision"),
    ("model.min_pixels=many", "model.min_pixels"),  # int | None
    ("model.attn_implementation=5", "model.attn_implementation"),  # str | None
    ("train.adam_betas=[0.9, b]", "train.adam_betas[1]"),
    ("train.adam_betas=0.9", "train.adam_betas"),
    ("data.column_map=[a]", "data.column_map"),
    ("rewards=[{name: format, tasks: counting}]", "rewards[0].tasks"),
    ("train=5", "train"),
])
def test_wrong_type_names_the_key(override, key):
    msg = error_of(None, [override])
    assert f"'{key}'" in msg


@pytest.mark.parametrize("override, key, allowed", [
    ("algorithm.name=ppo", "algorithm.name", "gpg"),
    ("algorithm.adv_scale=mean", "algorithm.adv_scale", "std"),
    ("model.dtype=fp8", "model.dtype", "bfloat16"),
    ("train.lr_schedule=step", "train.lr_schedule", "cosine"),
])
def test_literal_violation_names_key_and_choices(override, key, allowed):
    msg = error_of(None, [override])
    assert f"'{key}'" in msg and allowed in msg


def test_reward_list_unknown_key_names_the_item(tmp_path):
    path = write(tmp_path, "rewards:\n  - {name: format, weight: 1.0}\n  - {name: counting, wieght: 2}\n")
    msg = error_of(path)
    assert "'rewards[1].wieght'" in msg and str(path) in msg
    assert "'rewards[0].wieght'" in error_of(None, ["rewards=[{name: format, wieght: 2}]"])


def test_reward_without_name_is_missing_required_key():
    assert "'rewards[0].name'" in error_of(None, ["rewards=[{weight: 2}]"])


@pytest.mark.parametrize("override, word", [
    ("rollout.num_generations=1", "num_generations"),
    ("algorithm.beta_th=1.5", "beta_th"),
    ("algorithm.beta_th=0", "beta_th"),
    ("train.prompts_per_step=0", "prompts_per_step"),
])
def test_cross_field_checks_become_config_errors(override, word):
    assert word in error_of(None, [override])


@pytest.mark.parametrize("override, key", [("rollout.max_new_tokens=0", "max_new_tokens"),
                                           ("algorithm.max_draws=0", "max_draws")])
def test_values_that_would_crash_a_step_are_config_errors(override, key):
    assert key in error_of(None, [override, "algorithm.beta_th=0.5"])


def test_override_through_a_value_is_an_error(tmp_path):
    path = write(tmp_path, "train:\n  lr: 0.1\n")
    assert "'lr' is not a section" in error_of(path, ["train.lr.x=1"])


def test_override_without_equals_is_an_error():
    assert "train.lr" in error_of(None, ["train.lr"])


def test_missing_file_bad_yaml_and_non_mapping_name_the_path(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert str(missing) in error_of(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    assert str(bad) in error_of(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    assert str(listed) in error_of(listed)


def test_config_error_is_a_value_error():
    # The CLI reports ValueErrors as one line with exit code 2.
    assert issubclass(ConfigError, ValueError)


# --- documentation ---------------------------------------------------------------------

def leaf_keys(cls, prefix="") -> list[str]:
    hints = typing.get_type_hints(cls)
    keys = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        item = typing.get_args(tp)[0] if typing.get_origin(tp) is list and typing.get_args(tp) else None
        if dataclasses.is_dataclass(tp):
            keys += leaf_keys(tp, prefix + f.name + ".")
        elif item is not None and dataclasses.is_dataclass(item):  # rewards: the list, then each item's keys
            keys += [prefix + f.name] + leaf_keys(item, prefix + f.name + "[].")
        else:
            keys.append(prefix + f.name)
    return keys


def config_classes(cls=Config, found=None) -> list[type]:
    """Every dataclass reachable from Config, through nested fields and list items (RewardSpec)."""
    found = [] if found is None else found
    if cls in found:
        return found
    found.append(cls)
    for tp in typing.get_type_hints(cls).values():
        for t in (tp, *typing.get_args(tp), *(a for arg in typing.get_args(tp) for a in typing.get_args(arg))):
            if dataclasses.is_dataclass(t):
                config_classes(t, found)
    return found


def test_every_field_has_help_text():
    classes = config_classes()
    assert RewardSpec in classes and len(classes) >= 8
    for cls in classes:
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help", "").strip(), f"{cls.__name__}.{f.name} has no help text"


def test_describe_lists_every_key_with_its_default_and_help():
    lines = describe(Config)
    keys = [line.split(" = ", 1)[0] for line in lines]
    assert keys == leaf_keys(Config)
    for key in ("model.path", "model.min_pixels", "data.train", "data.prompt_template", "rollout.num_generations",
                "rollout.top_p", "rewards", "algorithm.name", "algorithm.beta_th", "algorithm.max_draws",
                "warmup.steps", "train.lr", "train.prompts_per_step", "train.micro_batch_size"):
        assert key in keys, key
    for line in lines:
        assert line.split("  # ", 1)[1].strip(), line
    assert "train.lr = 0.0001  # peak learning rate (AdamW)" in lines
    assert "algorithm.beta_th = None  # GPG: draw prompts until this fraction of samples is in valid groups" in lines
    assert "train.adam_betas = [0.9, 0.999]  # AdamW betas" in lines


def test_describe_documents_reward_item_keys():
    text = "\n".join(describe(Config))
    for f in dataclasses.fields(RewardSpec):
        assert f.metadata["help"] in text, f"RewardSpec.{f.name} is not described"


# --- issue 5: train.epochs, prompt formats, max_prompt_length ----------------------------

@pytest.mark.parametrize("epochs, rows, per_step, steps", [
    (6, 239, 16, 90),        # 89.625 -> 90 (the LISA recipe)
    (2, 15_000, 4, 7500),    # exactly 7500, not 7501 (float rounding)
    (0.1, 30, 4, 1),         # 0.75 -> 1
    (1.5, 5, 2, 4),          # 3.75 -> 4
    (3, 7, 7, 3),
])
def test_epochs_resolve_to_the_ceiling_of_epochs_times_rows_per_step(epochs, rows, per_step, steps):
    cfg = load_config(Config, None, ["train.steps=null", f"train.epochs={epochs}", f"train.prompts_per_step={per_step}"])
    assert cfg.train.total_steps(rows) == steps


def test_train_steps_owns_the_count_without_epochs():
    cfg = load_config(Config, None, ["train.steps=7"])
    assert cfg.train.epochs is None and cfg.train.total_steps(1000) == 7


@pytest.mark.parametrize("overrides, message", [
    (["train.epochs=2"], "train.steps=100 and train.epochs=2 both set the number of steps"),
    (["train.steps=null"], "set train.steps or train.epochs"),
    (["train.steps=null", "train.epochs=0"], "train.epochs must be a positive number"),
    (["train.steps=null", "train.epochs=-1"], "train.epochs must be a positive number"),
    (["train.steps=-3"], "train.steps must be >= 0"),
    (["data.prompt_format=raw"], "must contain {image} once"),
    (['data.prompt_template="{image} {problem}"'], "raw prompt"),
    (["data.prompt_format=raw", 'data.prompt_template="{image}{problem}"', "data.system_prompt=Be brief."],
     "data.system_prompt needs data.prompt_format=chat"),
    (["data.prompt_format=jinja"], "data.prompt_format"),
    (["data.max_prompt_length=0"], "data.max_prompt_length must be >= 1"),
    (["data.on_long_prompt=truncate"], "data.on_long_prompt"),
])
def test_run_setting_errors_name_the_keys(overrides, message):
    assert message in error_of(None, overrides)


def test_raw_prompt_settings_load():
    cfg = load_config(Config, None, ["data.prompt_format=raw", 'data.prompt_template="{image}Q: {problem}\\n"',
                                     "data.completion_prefix=<think>", "data.max_prompt_length=1024"])
    assert (cfg.data.prompt_format, cfg.data.completion_prefix, cfg.data.on_long_prompt) == ("raw", "<think>", "skip")
    assert cfg.data.prompt_template == "{image}Q: {problem}\n"  # YAML's "\n" is a newline
