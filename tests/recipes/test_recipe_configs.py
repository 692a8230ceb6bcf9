"""The recipe configs (issue 5): every YAML in configs/ loads standalone and is a sane GPG run;
every DeepSpeed JSON and accelerate YAML parses and says what its name says.

Fast: no model, no data; each config goes through the real loader (unknown keys and wrong types
fail there) and its rewards and adapter through the real registries.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from gpg_vl.config import Config, load_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
ALL_YAML = sorted(CONFIGS.glob("*.yaml"))
RECIPES = [p for p in ALL_YAML if p.name not in ("demo.yaml", "custom.yaml")]  # custom: your own data
MODELS = {"qwen2vl_2b": "Qwen/Qwen2-VL-2B-Instruct", "qwen25vl_3b": "Qwen/Qwen2.5-VL-3B-Instruct",
          "qwen25vl_7b": "Qwen/Qwen2.5-VL-7B-Instruct", "qwen2vl_2b_base": "Qwen/Qwen2-VL-2B",
          "qwen3vl_2b": "Qwen/Qwen3-VL-2B-Instruct", "qwen3vl_4b": "Qwen/Qwen3-VL-4B-Instruct",
          "qwen3vl_8b": "Qwen/Qwen3-VL-8B-Instruct", "qwen35_2b": "Qwen/Qwen3.5-2B", "qwen35_4b": "Qwen/Qwen3.5-4B"}
# Families whose chat template opens <think> by itself (Qwen3.5, reasoning on by default).
TEMPLATE_OPENS_THINK = ("qwen35_",)
TASKS = ("grounding", "classification", "geoqa", "counting", "sat")
# --num_train_epochs of each anchor script, and the rows docs/recipes.md counts with: the steps the
# recipes ran before train.epochs existed (ceil(epochs x rows / prompts per step)).
EPOCHS = {"grounding": 6, "classification": 8, "geoqa": 1, "counting": 2, "sat": 2}
ROWS_AND_STEPS = {"grounding": (239, 90), "classification": (408, 204), "geoqa": (8000, 500),
                  "counting": (70_000, 8750), "sat": (15_000, 7500)}


def recipe_parts(path: Path) -> tuple[str, str]:
    task, _, model = path.stem.partition("_")
    return task, model


def test_the_issue_s_recipe_matrix_is_there():
    names = {p.stem for p in RECIPES}
    for task in TASKS:  # every task with Qwen2-VL-2B and Qwen2.5-VL-3B
        assert {f"{task}_qwen2vl_2b", f"{task}_qwen25vl_3b"} <= names, task
    for task in ("grounding", "geoqa", "classification"):  # and 7B where the issue asks
        assert f"{task}_qwen25vl_7b" in names, task
    for task in TASKS:  # Qwen3-VL 2B/4B/8B-Instruct and small Qwen3.5 (issue 12)
        assert {f"{task}_qwen3vl_{s}b" for s in (2, 4, 8)} | {f"{task}_qwen35_{s}b" for s in (2, 4)} <= names
    for path in RECIPES:  # nothing else: a config is named <task>_<model>.yaml
        task, model = recipe_parts(path)
        assert task in TASKS and model in MODELS, path.name
        assert (REPO / "scripts" / f"train_{task}.sh").is_file(), path.name


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: p.name)
def test_config_loads_standalone(path):
    cfg = load_config(Config, path)
    assert cfg.rollout.num_generations >= 2
    assert cfg.train.prompts_per_step >= 1 and cfg.train.micro_batch_size >= 1


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_is_the_paper_s_gpg(path):
    cfg = load_config(Config, path)
    task, model = recipe_parts(path)
    assert cfg.model.path == MODELS[model]
    assert cfg.rollout.num_generations == 8  # G = 8 in every anchor
    algo = cfg.algorithm
    assert (algo.name, algo.adv_scale, algo.use_alpha, algo.beta_th) == ("gpg", "none", True, 0.4)
    assert cfg.train.lr == pytest.approx(1e-6)
    assert cfg.warmup.steps == 0 and not cfg.model.lora.enabled
    # the batch splits over 1, 2 and 4 processes (the sampler refuses an uneven split)
    assert all(cfg.train.prompts_per_step % world == 0 for world in (1, 2, 4)), cfg.train.prompts_per_step
    assert cfg.train.save_every >= 1
    assert cfg.train.output_dir == f"runs/{path.stem}"
    assert cfg.data.max_prompt_length == 1024  # every anchor passes --max_prompt_length 1024


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_trains_the_anchor_s_epochs(path):
    cfg = load_config(Config, path)
    task, _ = recipe_parts(path)
    assert cfg.train.steps is None and cfg.train.epochs == EPOCHS[task]
    rows, steps = ROWS_AND_STEPS[task]
    assert cfg.train.total_steps(rows) == steps
    assert cfg.train.total_steps(rows + 1) == steps + (task != "grounding")  # 6 x 240 / 16 = 90 still


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_rewards_and_adapter_exist(path):
    from gpg_vl.data.adapters import ADAPTERS, get_adapter
    from gpg_vl.verifiers import VERIFIERS

    cfg = load_config(Config, path)
    names = [spec.name for spec in cfg.rewards]
    prefilled = cfg.data.completion_prefix == "<think>" or recipe_parts(path)[1].startswith(TEMPLATE_OPENS_THINK)
    mode = "think_prefilled" if prefilled else "think"  # base model prefill, or the template opens <think>
    assert names[0] == "format" and cfg.rewards[0].options == {"mode": mode}
    assert len(names) == 2 and all(name in VERIFIERS for name in names), names
    assert cfg.data.adapter in ADAPTERS
    get_adapter(cfg.data.adapter, **cfg.data.adapter_options)  # options are real keyword options
    from gpg_vl.verifiers import get_verifier

    for spec in cfg.rewards:
        get_verifier(spec.name, **spec.options)  # reward options are real, allowed options


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_prompt_template_needs_only_the_problem(path):
    from gpg_vl.families import IMAGE_PLACEHOLDER
    from gpg_vl.prompts import render_prompt

    cfg = load_config(Config, path)
    text = render_prompt({"problem": "PROBLEM", "images": ["image.png"]}, cfg.data.prompt_template)
    if cfg.data.prompt_format == "raw":  # the base model: image, then the text, then the prefill
        assert path.stem == "sat_qwen2vl_2b_base"
        assert text.startswith(IMAGE_PLACEHOLDER + "<image>A conversation") and "User: PROBLEM \n" in text
        assert (text + cfg.data.completion_prefix).endswith("Assistant: Let me solve this step by step.\n<think>")
        return
    assert text.startswith("PROBLEM") and cfg.data.completion_prefix == ""
    if recipe_parts(path)[0] != "classification":  # Visual-RFT's problems carry the instruction
        assert "<think> </think>" in text and "<answer>" in text


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("grounding_*.yaml")), ids=lambda p: p.name)
def test_grounding_reward_uses_the_model_s_pixel_limits(path):
    """Qwen2.5-VL boxes are in resized-image pixels: the verifier must resize like the model."""
    cfg = load_config(Config, path)
    (iou,) = [spec for spec in cfg.rewards if spec.name == "grounding_iou"]
    assert iou.options.get("min_pixels") == cfg.model.min_pixels
    assert iou.options.get("max_pixels") == cfg.model.max_pixels
    assert cfg.data.adapter_options == {"box_frame": "qwen2_vl"}  # the data file's frame, any model
    assert iou.options.get("reward") == "giou"  # Visual-RFT's LISA reward: GIoU + 1 in [0, 2]


def test_every_recipe_cites_its_sources():
    for path in RECIPES:
        text = path.read_text()
        assert "[S]" in text and "[T]" in text, path.name
        assert re.search(r"^#.*Sources", text, re.M), path.name


# --- DeepSpeed ---------------------------------------------------------------------------------
DS = {"zero2": (2, "none", None), "zero3": (3, "none", "none"), "zero3_offload": (3, "cpu", "cpu")}


@pytest.mark.parametrize("name", sorted(DS))
def test_deepspeed_json(name):
    conf = json.loads((CONFIGS / "deepspeed" / f"{name}.json").read_text())
    stage, opt_device, param_device = DS[name]
    zero = conf["zero_optimization"]
    assert zero["stage"] == stage
    assert zero["offload_optimizer"]["device"] == opt_device
    assert zero.get("offload_param", {}).get("device") == param_device
    if stage == 3:
        assert zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert conf["bf16"]["enabled"] == "auto" and conf["gradient_clipping"] == "auto"
    assert conf["gradient_accumulation_steps"] == "auto" and conf["train_batch_size"] == "auto"
    # The trainer prepares no dataloader, so accelerate cannot fill these "auto" values: the
    # micro batch must be a number, and the hidden-size-based buckets too (the prepared module,
    # LogprobModel, has no .config for accelerate to read hidden_size from).
    assert isinstance(conf["train_micro_batch_size_per_gpu"], int)
    for key in ("reduce_bucket_size", "stage3_prefetch_bucket_size", "stage3_param_persistence_threshold"):
        assert zero.get(key, 0) != "auto", key
    if opt_device == "cpu":  # the trainer's torch AdamW with offload: DeepSpeed refuses it by default
        assert conf["zero_force_ds_cpu_optimizer"] is False


# --- accelerate ----------------------------------------------------------------------------------
ACCELERATE = sorted((CONFIGS / "accelerate").glob("*.yaml"))


def test_accelerate_configs_present():
    assert {p.stem for p in ACCELERATE} == {"single_gpu", "multi_gpu", "cpu_ddp", "deepspeed_zero2",
                                            "deepspeed_zero3", "deepspeed_zero3_offload"}


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_yaml(path):
    conf = yaml.safe_load(path.read_text())
    expected = {"single_gpu": "NO", "multi_gpu": "MULTI_GPU", "cpu_ddp": "MULTI_GPU"}
    if path.stem.startswith("deepspeed_"):
        assert conf["distributed_type"] == "DEEPSPEED"
        ds_file = conf["deepspeed_config"]["deepspeed_config_file"]
        assert ds_file == f"configs/deepspeed/{path.stem.removeprefix('deepspeed_')}.json"
        assert (REPO / ds_file).is_file()
        # accelerate raises when mixed_precision sits next to a deepspeed_config_file
        assert "mixed_precision" not in conf
        assert conf["deepspeed_config"]["deepspeed_multinode_launcher"] == "standard"
    else:
        assert conf["distributed_type"] == expected[path.stem]
        assert conf["mixed_precision"] == ("no" if path.stem == "cpu_ddp" else "bf16")
    assert conf.get("use_cpu") is False  # cpu_ddp: real gloo DDP comes from MULTI_GPU + Accelerator(cpu)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_pixel_limits_are_whole_tokens_of_the_model_s_family(path):
    """min/max pixels are whole image tokens at the family's patch x merge (28 px for Qwen2-VL /
    Qwen2.5-VL, 32 px for Qwen3-VL / Qwen3.5): the anchor's 3136 would be 3.06 Qwen3-VL tokens."""
    from gpg_vl.families import FAMILIES
    from gpg_vl.families.recipes import recipe_key

    cfg = load_config(Config, path)
    key = recipe_key(cfg.model.path)
    (family,) = [f for f in FAMILIES.values() if key.startswith(f.recipe_prefix + "_")]
    for pixels in (cfg.model.min_pixels, cfg.model.max_pixels):
        assert pixels % family.resize_factor ** 2 == 0, (pixels, family.name)
