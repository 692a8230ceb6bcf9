"""The trainer's weights under the names vLLM loads, materialised a chunk at a time.

Followed: TRL's colocate sync (trl/generation/vllm_generation.py ``_iter_named_params`` /
``sync_weights``): Hugging Face parameter names go to the vLLM model's ``load_weights``, which
maps them itself (Qwen2-VL's ``hf_to_vllm_mapper``: ``model.language_model.`` ->
``language_model.model.``, ``model.visual.`` -> ``visual.``, q/k/v stacked into ``qkv``).
Differences from TRL:
- LoRA is merged per module on the fly (W + scale * B @ A, peft's ``get_delta_weight``) instead of
  ``merge_adapter()`` / ``unmerge_adapter()`` on the live model, which would round the base
  weights in bf16 on every step;
- after the first sync only what can change is sent: the blocks holding parameters that train
  or LoRA-merged weights; a frozen vision tower is sent once;
- under ZeRO-3 the parameters are gathered a chunk at a time (``chunk_bytes`` of full tensors),
  so the extra memory is one chunk, not one full copy of the model.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

PEFT_PREFIX = "base_model.model."


def _is_lora_param(name: str) -> bool:
    return ".lora_" in name or name.startswith("lora_")


def _lora_layer(model, name: str):
    """The peft LoraLayer around base weight ``name`` (``...q_proj.base_layer.weight`` -> ``...q_proj``)."""
    return model.get_submodule(name.split(".base_layer.")[0])


def _plan(model) -> list[tuple[str, str, list]]:
    """[(vLLM name, trainer parameter name, parameters needed to build it)] in parameter order.

    A LoRA-wrapped weight needs its base weight and the module's adapter matrices.
    """
    plan = []
    for name, param in model.named_parameters():
        if _is_lora_param(name) or param.numel() == 0 and not hasattr(param, "ds_numel"):
            continue  # adapters are merged into their base weight; empty tensors carry nothing
        target = name.removeprefix(PEFT_PREFIX).replace(".base_layer.", ".")
        needed = [param]
        if ".base_layer." in name and name.endswith(".weight"):
            lora_module = _lora_layer(model, name)  # the LoraLayer
            needed += [p for n, p in lora_module.named_parameters() if _is_lora_param(n)]
        plan.append((target, name, needed))
    return plan


def _value(model, name: str, param) -> torch.Tensor:
    """The tensor vLLM gets for trainer parameter ``name`` (LoRA merged in), detached."""
    if ".base_layer." in name and name.endswith(".weight"):
        lora_module = _lora_layer(model, name)
        merged = param.detach().clone()
        for adapter in getattr(lora_module, "active_adapters", []):
            if adapter in getattr(lora_module, "lora_A", {}):
                merged += lora_module.get_delta_weight(adapter).to(merged.dtype)
        return merged
    return param.detach()


def _block(name: str) -> str:
    """The module holding a parameter's module (``...layers.3.self_attn`` for ``...q_proj.weight``):
    vLLM fuses sibling projections (q/k/v into qkv_proj, gate/up into gate_up_proj) and reprocesses
    a fused layer only from all its parts, so what changes is sent a whole block at a time."""
    return name.rsplit(".", 2)[0]


def changing_blocks(plan: list) -> set[str]:
    """Blocks the update can change: a parameter in them trains, or a LoRA adapter merged into one does."""
    return {_block(target) for target, _, needed in plan if any(p.requires_grad for p in needed)}


def _full_bytes(param) -> int:
    numel = getattr(param, "ds_numel", None) or param.numel()
    return numel * param.element_size()


# full tensors materialised at a time by a sync: under ZeRO-3, the extra memory per rank
SYNC_CHUNK_BYTES = 1 << 30


def named_weights(model, only_changing: bool,
                  chunk_bytes: int = SYNC_CHUNK_BYTES) -> Iterator[list[tuple[str, torch.Tensor]]]:
    """Chunks [(vLLM name, tensor)] of the weights to send, each at most ``chunk_bytes`` of full
    tensors (or a single larger weight); under ZeRO-3 each chunk is gathered (collectively: every
    rank must iterate in the same order) and released before the next."""
    plan = _plan(model)
    if only_changing:
        blocks = changing_blocks(plan)
        plan = [item for item in plan if _block(item[0]) in blocks]
    zero3 = any(hasattr(p, "ds_id") for _, _, needed in plan for p in needed)
    chunk, size = [], 0
    for item in plan:
        item_bytes = sum(_full_bytes(p) for p in item[2])
        if chunk and size + item_bytes > chunk_bytes:  # a chunk stays within chunk_bytes, or is one weight
            yield from _materialise(model, chunk, zero3)
            chunk, size = [], 0
        chunk.append(item)
        size += item_bytes
    if chunk:
        yield from _materialise(model, chunk, zero3)


def _materialise(model, chunk: list, zero3: bool) -> Iterator[list[tuple[str, torch.Tensor]]]:
    if zero3:
        import deepspeed

        gather = deepspeed.zero.GatheredParameters([p for _, _, needed in chunk for p in needed])
    else:
        gather = contextlib.nullcontext()
    with gather:
        yield [(target, _value(model, name, needed[0])) for target, name, needed in chunk]
