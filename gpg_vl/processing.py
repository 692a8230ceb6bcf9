"""Turn samples (image(s) + question) into a left-padded Qwen-VL batch, and repeat it per group.

Prompts go through the processor's chat template (or, in the raw format for base models, are the
template itself: ``gpg_vl.prompts``) and ``qwen_vl_utils`` (which resizes each image within
min/max pixels to multiples of patch x merge: 28 for Qwen2-VL / Qwen2.5-VL, 32 for Qwen3-VL /
Qwen3.5, read from the checkpoint's processor), so what the policy sees in training is what it sees in
evaluation and at inference; :func:`prompt_length` counts those tokens without decoding an image.
``repeat_for_group`` repeats every prompt G times: ``pixel_values`` is flat over patches ([sum
of patches over images, C*T*P*P]), so a prompt's image chunk must be repeated, not the tensor
tiled; tiling pairs images with the wrong completions whenever a batch holds more than one prompt
(the R1-V-derived bug named in DEVELOPERS.md).
"""
from __future__ import annotations

import torch

from gpg_vl.errors import ConfigError
from gpg_vl.prompts import check_prompt_template, render_prompt

VISION_KEYS = ("pixel_values", "image_grid_thw", "image_features")

__all__ = ["render_prompt", "build_messages", "prompt_text", "encode_prompts", "prompt_length",
           "image_token_count", "images_per_row", "select_rows", "repeat_for_group"]


def image_items(images: list, min_pixels: int | None = None, max_pixels: int | None = None) -> list[dict]:
    """Chat content items for images, with the pixel limits ``qwen_vl_utils`` resizes them by."""
    items = []
    for img in images:
        item = {"type": "image", "image": img}
        if min_pixels is not None:
            item["min_pixels"] = min_pixels
        if max_pixels is not None:
            item["max_pixels"] = max_pixels
        items.append(item)
    return items


def build_messages(sample: dict, images: list, prompt_template: str = "{problem}",
                   system_prompt: str | None = None, min_pixels: int | None = None,
                   max_pixels: int | None = None) -> list[dict]:
    """The chat messages for one sample: its images first, then the filled-in prompt text."""
    text = render_prompt(sample, prompt_template)
    content = image_items(images, min_pixels, max_pixels) + [{"type": "text", "text": text}]
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": content}]


def prompt_text(processor, sample: dict, images: list, *, prompt_template: str = "{problem}",
                system_prompt: str | None = None, prompt_format: str = "chat", completion_prefix: str = "",
                min_pixels: int | None = None, max_pixels: int | None = None,
                chat_template_kwargs: dict | None = None) -> tuple[str, list[dict]]:
    """(text the processor tokenises, messages ``qwen_vl_utils`` reads the images from) for one
    sample. The text holds one ``<|image_pad|>`` per image and ends with ``completion_prefix``.

    chat: the chat template around the images and the user text, then the assistant header;
    raw: the template itself, images where it says {image} (VisualThinker-R1-Zero's base-model
    prompt, grpo.py ``make_conversation_sat``), no chat template and no system message.
    ``chat_template_kwargs``: the family's reasoning switch (``Family.chat_template_kwargs``).
    """
    check_prompt_template(prompt_template, prompt_format)
    if prompt_format == "raw":
        if system_prompt is not None:
            raise ConfigError("a raw prompt has no system message; put the text into the template")
        text = render_prompt(sample, prompt_template)
        messages = [{"role": "user", "content": image_items(images, min_pixels, max_pixels)}]
    else:
        messages = build_messages(sample, images, prompt_template, system_prompt, min_pixels, max_pixels)
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                             **(chat_template_kwargs or {}))
    return text + completion_prefix, messages


def patch_size(processor) -> int:
    """The vision patch side of the checkpoint's image processor (14 for Qwen2-VL / Qwen2.5-VL,
    16 for Qwen3-VL / Qwen3.5): ``qwen_vl_utils`` resizes to multiples of it x its merge size 2,
    the image processor to multiples of it x ``merge_size``; both must agree or images are
    resized twice (families.<name>.FAMILY.patch_size holds the same number)."""
    return int(processor.image_processor.patch_size)


def sample_images(sample: dict) -> list:
    """The sample's images as RGB PIL images, opened defensively (EXIF, modes, size limits)."""
    from gpg_vl.data.images import open_image

    return [open_image(ref) for ref in sample.get("images") or []]


def encode_prompts(processor, samples: list[dict], **prompt_kwargs) -> dict:
    """Left-padded batch: input_ids, attention_mask, mm_token_type_ids [B, P]; pixel_values
    [sum patches, D]; image_grid_thw [num images, 3]. ``prompt_kwargs``: those of
    :func:`prompt_text` (template, system prompt, format, completion prefix, pixel limits)."""
    from qwen_vl_utils import process_vision_info

    texts, all_images = [], []
    for sample in samples:
        text, msgs = prompt_text(processor, sample, sample_images(sample), **prompt_kwargs)
        texts.append(text)
        images, _ = process_vision_info(msgs, image_patch_size=patch_size(processor))
        all_images.extend(images or [])
    processor.tokenizer.padding_side = "left"
    batch = processor(text=texts, images=all_images or None, return_tensors="pt", padding=True)
    return dict(batch)


def image_token_count(processor, size: tuple[int, int], min_pixels: int | None = None,
                      max_pixels: int | None = None) -> int:
    """Tokens one image of original size (W, H) becomes in the prompt: ``qwen_vl_utils`` resizes it
    within [min_pixels, max_pixels] (as in :func:`encode_prompts`), the image processor resizes that
    by its own limits (both: ``families.smart_resize``'s rule, sides multiples of patch x merge),
    and every merge x merge block of patches is one token."""
    from qwen_vl_utils import smart_resize
    from qwen_vl_utils.vision_process import SPATIAL_MERGE_SIZE

    image_processor = processor.image_processor
    width, height = size
    factor = patch_size(processor) * SPATIAL_MERGE_SIZE
    h, w = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    patches = image_processor.get_number_of_image_patches(h, w, {})
    return patches // image_processor.merge_size ** 2


def prompt_length(processor, sample: dict, image_sizes: list[tuple[int, int]], **prompt_kwargs) -> int:
    """The prompt's length in tokens as the processor will expand it, without decoding an image:
    the text tokens (one ``<|image_pad|>`` per image) plus each image's other tokens.
    ``image_sizes``: the sample's images' (W, H); ``prompt_kwargs``: those of :func:`prompt_text`."""
    text, _ = prompt_text(processor, sample, list(sample.get("images") or []), **prompt_kwargs)
    text_tokens = len(processor.tokenizer(text)["input_ids"])
    limits = {k: prompt_kwargs.get(k) for k in ("min_pixels", "max_pixels")}
    return text_tokens + sum(image_token_count(processor, size, **limits) - 1 for size in image_sizes)


def images_per_row(input_ids: torch.Tensor, image_grid_thw: torch.Tensor | None, image_token: int,
                   merge_size: int = 2) -> list[list[int]]:
    """Which images (indices into image_grid_thw) belong to each row of ``input_ids``."""
    if image_grid_thw is None:
        return [[] for _ in range(input_ids.shape[0])]
    tokens_per_image = (image_grid_thw.prod(-1) // merge_size**2).tolist()  # [num images]
    tokens_per_row = (input_ids == image_token).sum(-1).tolist()  # [B]
    rows, k = [], 0
    for need in tokens_per_row:
        mine = []
        while need > 0:
            if k >= len(tokens_per_image) or tokens_per_image[k] > need:
                raise ValueError("image placeholder tokens do not match image_grid_thw")
            need -= tokens_per_image[k]
            mine.append(k)
            k += 1
        rows.append(mine)
    if k != len(tokens_per_image):
        raise ValueError(f"{len(tokens_per_image) - k} images have no placeholder tokens")
    return rows


def select_rows(batch: dict, rows: list[int], image_token: int, merge_size: int = 2) -> dict:
    """A sub-batch of the given rows (repeats allowed), with each row's image chunks taken along.

    ``select_rows(batch, [0, 0, 1, 1])`` repeats each of two prompts twice; ``pixel_values`` and
    ``image_grid_thw`` follow their rows chunk by chunk.
    """
    index = torch.tensor(rows, dtype=torch.long)
    out = {k: v[index] for k, v in batch.items() if k not in VISION_KEYS and torch.is_tensor(v)}
    grid = batch.get("image_grid_thw")
    if grid is None:
        return out
    owners = images_per_row(batch["input_ids"], grid, image_token, merge_size)
    picked = [k for r in rows for k in owners[r]]
    if picked:
        if batch.get("image_features") is not None:  # encoded once (models.forward.encode_images)
            out["image_features"] = [batch["image_features"][k] for k in picked]  # per image [tokens_k, H]
        else:
            chunks = torch.split(batch["pixel_values"], grid.prod(-1).tolist())  # per image [patches_i, D]
            out["pixel_values"] = torch.cat([chunks[k] for k in picked])  # [sum patches, D]
        out["image_grid_thw"] = grid[torch.tensor(picked, dtype=torch.long)]  # [images, 3]
    return out


def repeat_for_group(batch: dict, group_size: int, image_token: int, merge_size: int = 2) -> dict:
    """Repeat each prompt ``group_size`` times, contiguously: rows [p0]*G + [p1]*G + ..."""
    num_prompts = batch["input_ids"].shape[0]
    rows = [p for p in range(num_prompts) for _ in range(group_size)]
    return select_rows(batch, rows, image_token, merge_size)
