"""load_policy / load_processor: family detection, dtype, pixel limits, and errors naming the path."""
from __future__ import annotations

import shutil

import pytest
import torch
from PIL import Image

from gpg_vl.families import FAMILIES
from gpg_vl.models import ModelLoadError, load_policy, load_processor
from gpg_vl.processing import encode_prompts


# Box frames written out per family (QwenLM/Qwen3-VL README: Qwen3-VL grounds in "relative
# position coordinates", 0-1000 as Qwen2-VL; Qwen3.5 shares its vision tower and frame).
FRAMES = {"qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen2_vl", "qwen3_5": "qwen2_vl",
          "qwen3_vl_moe": "qwen2_vl"}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_load_policy_detects_the_family(tiny_dirs, family):
    model, processor, fam = load_policy(str(tiny_dirs[family]))
    assert fam.name == family and fam.box_frame == FRAMES[family]
    # the family's patch size is the one its processor resizes by (processing reads the processor)
    assert processor.image_processor.patch_size == fam.patch_size
    assert processor.image_processor.merge_size == fam.merge_size
    assert model.config.model_type == family
    assert processor.tokenizer.padding_side == "left"
    assert next(model.parameters()).dtype == torch.float32  # auto on CPU


def test_dtype_option(tiny_dirs):
    model, _, _ = load_policy(str(tiny_dirs["qwen2_vl"]), dtype="bfloat16")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_pixel_limits_reach_the_processor(tiny_dirs):
    folder = str(tiny_dirs["qwen2_vl"])
    big = [{"id": "x", "images": [Image.new("RGB", (224, 224), (5, 5, 5))], "problem": "Q"}]
    default = load_processor(folder)
    assert encode_prompts(default, big)["image_grid_thw"].tolist() == [[1, 16, 16]]
    capped = load_processor(folder, min_pixels=112 * 112, max_pixels=112 * 112)
    assert capped.image_processor.size["longest_edge"] == 112 * 112
    assert encode_prompts(capped, big)["image_grid_thw"].tolist() == [[1, 8, 8]]
    small = [{"id": "y", "images": [Image.new("RGB", (28, 28), (5, 5, 5))], "problem": "Q"}]
    raised = load_processor(folder, min_pixels=112 * 112, max_pixels=112 * 112)
    assert encode_prompts(raised, small)["image_grid_thw"].tolist() == [[1, 8, 8]]


def test_folder_without_processor_files_names_the_folder(tiny_dirs, tmp_path):
    folder = tmp_path / "weights-only"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copy(tiny_dirs["qwen2_vl"] / name, folder / name)
    with pytest.raises(ModelLoadError) as info:
        load_policy(str(folder))
    assert str(folder) in str(info.value) and "processor" in str(info.value)


@pytest.mark.parametrize("path", ["/definitely/not/here/model", "./not-here-model", "not/here/model"])
def test_missing_path_names_it(path):
    with pytest.raises(ModelLoadError) as info:
        load_policy(path)
    assert path in str(info.value)


def test_folder_without_config_names_it(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError) as info:
        load_policy(str(tmp_path / "empty"))
    assert str(tmp_path / "empty") in str(info.value)
