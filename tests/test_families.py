"""The family registry: one list, plain records, clear refusals, and the reasoning switch."""
from __future__ import annotations

import pytest

from gpg_vl.families import FAMILIES, UNTESTED, UnsupportedFamilyError, checkpoint_family, get_family
from gpg_vl.models import load_processor
from gpg_vl.processing import prompt_text
from gpg_vl.trainer.setup import prompt_kwargs


def test_an_unsupported_model_type_names_the_families_and_the_module_to_write():
    with pytest.raises(UnsupportedFamilyError) as err:
        get_family("llava")
    message = str(err.value)
    assert "\n" not in message
    assert all(name in message for name in FAMILIES)
    assert "gpg_vl/families/llava.py" in message


@pytest.mark.parametrize("model_type", sorted(UNTESTED))
def test_an_untested_family_says_so_rather_than_running(model_type):
    with pytest.raises(UnsupportedFamilyError, match="untested"):
        get_family(model_type)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_records_are_plain_and_complete(family):
    fam = get_family(family)
    assert fam.name == family == fam.model_type
    assert fam.resize_factor == fam.patch_size * fam.merge_size
    assert "<|im_end|>" in fam.end_tokens and "<|image_pad|>" in fam.vision_tokens
    assert fam.min_pixels < fam.max_pixels and fam.min_pixels % fam.resize_factor ** 2 == 0
    assert "<|image_pad|>" in fam.chat_template


def test_thinking_switch_reaches_qwen3_5_s_template_and_is_refused_elsewhere(tiny_dirs, tmp_path):
    processor = load_processor(str(tiny_dirs["qwen3_5"]))
    sample = {"id": "t", "images": [], "problem": "Hi"}
    on, _ = prompt_text(processor, sample, [])
    off, _ = prompt_text(processor, sample, [], chat_template_kwargs=get_family("qwen3_5").chat_template_kwargs(False))
    assert on.endswith("<|im_start|>assistant\n<think>\n")
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert checkpoint_family(str(tiny_dirs["qwen3_5"])).name == "qwen3_5"

    from gpg_vl.config import Config, load_config

    cfg = load_config(Config, None, [f"model.path={tiny_dirs['qwen3_5']}", "data.thinking=false"])
    assert prompt_kwargs(cfg)["chat_template_kwargs"] == {"enable_thinking": False}
    cfg = load_config(Config, None, [f"model.path={tiny_dirs['qwen3_vl']}", "data.thinking=true"])
    with pytest.raises(ValueError, match="no reasoning switch"):
        prompt_kwargs(cfg)
    assert "chat_template_kwargs" not in prompt_kwargs(load_config(Config, None, [f"model.path={tiny_dirs['qwen3_vl']}"]))


def test_a_template_that_opens_think_needs_the_prefilled_format_mode(tiny_dirs):
    from gpg_vl.config import Config, load_config
    from gpg_vl.families import opens_think
    from gpg_vl.trainer.setup import check_format_mode

    qwen35 = load_processor(str(tiny_dirs["qwen3_5"]))
    assert opens_think(qwen35) and not opens_think(qwen35, {"enable_thinking": False})
    assert not opens_think(load_processor(str(tiny_dirs["qwen3_vl"])))

    def cfg(family, *overrides):
        return load_config(Config, None, [f"model.path={tiny_dirs[family]}", *overrides])

    think = "rewards=[{name: format, options: {mode: think}}]"
    with pytest.raises(ValueError, match=r"rewards\[0\].*opens <think> itself.*think_prefilled"):
        check_format_mode(cfg("qwen3_5", think), qwen35)
    check_format_mode(cfg("qwen3_5", "rewards=[{name: format, options: {mode: think_prefilled}}]"), qwen35)
    check_format_mode(cfg("qwen3_5", think, "data.thinking=false"), qwen35)  # empty block: a fresh <think>
    check_format_mode(cfg("qwen3_vl", think), load_processor(str(tiny_dirs["qwen3_vl"])))
