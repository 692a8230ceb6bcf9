"""Model families: every quirk of a model family lives in its module here, nothing else names one.

One module per family (``qwen2_vl.py``, ``qwen2_5_vl.py``, ``qwen3_vl.py``, ``qwen3_5.py``), each a
:class:`~gpg_vl.families.base.Family` record: patch and merge size (the resize rule), the
processor's pixel limits, end tokens, vision tokens never sampled, the grounding box frame,
chat-template switches, the tiny-model config and the adapter between encoded images and the
language model. ``FAMILIES`` is the one list the CLI and the tests read. Box frames and the
resize rule are in :mod:`gpg_vl.families.frames`.

Adding a family: write ``gpg_vl/families/<model_type>.py`` with a ``FAMILY`` record (copy the
closest one), add it to ``_MODULES``; every family test then runs for it.
"""
from __future__ import annotations

import importlib

from gpg_vl.errors import ModelError
from gpg_vl.families.base import IMAGE_PLACEHOLDER, QWEN_SPECIAL_TOKENS, VISION_TOKENS, Family
from gpg_vl.families.frames import (BOX_FRAMES, RESIZED_FRAMES, box_from_pixels, box_to_pixels, resized_size,
                                    smart_resize)

__all__ = ["FAMILIES", "Family", "get_family", "family_of", "checkpoint_family", "opens_think", "UnsupportedFamilyError", "BOX_FRAMES",
           "RESIZED_FRAMES", "IMAGE_PLACEHOLDER", "QWEN_SPECIAL_TOKENS", "VISION_TOKENS", "box_from_pixels",
           "box_to_pixels", "resized_size", "smart_resize"]

_MODULES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_vl_moe")
FAMILIES: dict[str, Family] = {
    name: importlib.import_module(f"gpg_vl.families.{name}").FAMILY for name in _MODULES}
# Architectures transformers has whose path gpg-vl does not test: refused, not run untested.
UNTESTED = {
    "qwen3_5_moe": "Qwen3.5 MoE (expert routing and its load-balancing loss are untested here)",
}


class UnsupportedFamilyError(ModelError):
    """A model_type gpg-vl has no tested family module for."""


def get_family(name_or_model_type: str) -> Family:
    """The family of a model, by family name or by its config's ``model_type``."""
    if name_or_model_type in FAMILIES:
        return FAMILIES[name_or_model_type]
    if name_or_model_type in UNTESTED:
        raise UnsupportedFamilyError(
            f"model_type {name_or_model_type!r}: {UNTESTED[name_or_model_type]}; gpg-vl refuses to run it "
            f"untested. Tested families: {', '.join(FAMILIES)}")
    raise UnsupportedFamilyError(
        f"unsupported model family {name_or_model_type!r}; supported: {', '.join(FAMILIES)}. To add one, "
        f"write gpg_vl/families/{name_or_model_type}.py with a FAMILY record and list it in families._MODULES")


def checkpoint_family(path_or_id: str) -> Family:
    """The family of a checkpoint folder or hub id, from its config.json (no weights loaded)."""
    from transformers import AutoConfig

    return get_family(AutoConfig.from_pretrained(path_or_id).model_type)


def opens_think(processor, chat_template_kwargs: dict | None = None) -> bool:
    """Whether the chat template's generation prompt opens a reasoning block itself (Qwen3-VL
    Thinking checkpoints; Qwen3.5 unless ``enable_thinking=false``): completions then start inside
    ``<think>``, as after a ``<think>`` prefill."""
    messages = [{"role": "user", "content": [{"type": "text", "text": "x"}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                         **(chat_template_kwargs or {}))
    return text.rstrip().endswith("<think>")


def family_of(model) -> Family:
    """The family of a loaded model (a PEFT wrap or a trunk too), from its config's model_type."""
    return get_family(model.config.model_type)
