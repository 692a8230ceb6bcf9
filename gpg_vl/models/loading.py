"""Load a policy and its processor from a hub id or a local folder, and its model family."""
from __future__ import annotations

from pathlib import Path

from gpg_vl.errors import ModelError
from gpg_vl.families import Family, get_family


class ModelLoadError(ModelError):
    """A model path that cannot give a policy + processor, named in the message."""


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def load_processor(path_or_id: str, min_pixels: int | None = None, max_pixels: int | None = None):
    """The processor saved with the model; a folder without one is an error naming it."""
    from transformers import AutoProcessor

    local = Path(path_or_id)
    if local.exists() and not (local / "preprocessor_config.json").exists() \
            and not (local / "processor_config.json").exists():
        raise ModelLoadError(f"{path_or_id}: no processor (preprocessor_config.json) in the model folder; "
                             "save one with processor.save_pretrained(DIR)")
    try:
        processor = AutoProcessor.from_pretrained(path_or_id)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path_or_id}: cannot load the processor: {exc}") from exc
    if getattr(processor, "tokenizer", None) is None or getattr(processor, "image_processor", None) is None:
        raise ModelLoadError(f"{path_or_id}: the processor lacks a tokenizer or image processor")
    set_pixel_limits(processor.image_processor, min_pixels, max_pixels)
    processor.tokenizer.padding_side = "left"
    return processor


def set_pixel_limits(image_processor, min_pixels: int | None, max_pixels: int | None) -> None:
    """Override the image processor's pixel limits (transformers 5 keeps them in ``size``)."""
    size = dict(getattr(image_processor, "size", None) or {})
    if min_pixels is not None:
        size["shortest_edge"] = min_pixels
    if max_pixels is not None:
        size["longest_edge"] = max_pixels
    image_processor.size = size
    for key, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if value is not None and hasattr(image_processor, key):
            setattr(image_processor, key, value)


def load_policy(path_or_id: str, *, dtype: str = "auto", device: str = "cpu",
                attn_implementation: str | None = None, min_pixels: int | None = None,
                max_pixels: int | None = None, processor=None) -> tuple[object, object, Family]:
    """(model, processor, family) for a Qwen2-VL / Qwen2.5-VL checkpoint (hub id or folder).

    ``processor``: one already loaded from ``path_or_id`` with these pixel limits (reused)."""
    from transformers import AutoConfig, AutoModelForImageTextToText

    local = Path(path_or_id)
    if path_or_id.startswith((".", "/")) and not local.exists():
        raise ModelLoadError(f"model folder not found: {path_or_id}")
    try:
        config = AutoConfig.from_pretrained(path_or_id)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path_or_id}: cannot read the model config: {exc}") from exc
    family = get_family(config.model_type)
    if processor is None:
        processor = load_processor(path_or_id, min_pixels, max_pixels)
    kwargs = {"dtype": resolve_dtype(dtype, device)}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model = AutoModelForImageTextToText.from_pretrained(path_or_id, **kwargs).to(device)
    return model, processor, family
