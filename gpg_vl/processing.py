"""Turn samples (image(s) + question) into a left-padded Qwen-VL batch, and repeat it per group.

Prompts go through the processor's chat template and ``qwen_vl_utils`` (which resizes each image
within min/max pixels to multiples of 28), so what the policy sees in training is what it sees in
evaluation and at inference. ``repeat_for_group`` repeats every prompt G times: ``pixel_values``
is flat over patches ([sum of patches over images, C*T*P*P]), so a prompt's image chunk must be
repeated, not the tensor tiled; tiling pairs images with the wrong completions whenever a batch
holds more than one prompt (the R1-V-derived bug named in DEVELOPERS.md).
"""
from __future__ import annotations

import torch

VISION_KEYS = ("pixel_values", "image_grid_thw")


def render_prompt(sample: dict, prompt_template: str = "{problem}") -> str:
    """The user text of a sample: the template filled with the sample's fields."""
    try:
        return prompt_template.format(**sample)
    except KeyError as exc:
        raise KeyError(f"prompt_template needs field {exc} that sample {sample.get('id')!r} lacks") from None


def build_messages(sample: dict, images: list, prompt_template: str = "{problem}",
                   system_prompt: str | None = None, min_pixels: int | None = None,
                   max_pixels: int | None = None) -> list[dict]:
    """The chat messages for one sample: its images first, then the filled-in prompt text."""
    text = render_prompt(sample, prompt_template)
    content = []
    for img in images:
        item = {"type": "image", "image": img}
        if min_pixels is not None:
            item["min_pixels"] = min_pixels
        if max_pixels is not None:
            item["max_pixels"] = max_pixels
        content.append(item)
    content.append({"type": "text", "text": text})
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": content}]


def sample_images(sample: dict) -> list:
    """The sample's images as RGB PIL images, opened defensively (EXIF, modes, size limits)."""
    from gpg_vl.data.images import open_image

    return [open_image(ref) for ref in sample.get("images") or []]


def encode_prompts(processor, samples: list[dict], *, prompt_template: str = "{problem}",
                   system_prompt: str | None = None, min_pixels: int | None = None,
                   max_pixels: int | None = None) -> dict:
    """Left-padded batch: input_ids, attention_mask, mm_token_type_ids [B, P]; pixel_values
    [sum patches, D]; image_grid_thw [num images, 3]."""
    from qwen_vl_utils import process_vision_info

    texts, all_images = [], []
    for sample in samples:
        msgs = build_messages(sample, sample_images(sample), prompt_template, system_prompt,
                              min_pixels, max_pixels)
        texts.append(processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
        images, _ = process_vision_info(msgs)
        all_images.extend(images or [])
    processor.tokenizer.padding_side = "left"
    batch = processor(text=texts, images=all_images or None, return_tensors="pt", padding=True)
    return dict(batch)


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
    chunks = torch.split(batch["pixel_values"], grid.prod(-1).tolist())  # per image [patches_i, D]
    picked = [k for r in rows for k in owners[r]]
    if picked:
        out["pixel_values"] = torch.cat([chunks[k] for k in picked])  # [sum patches, D]
        out["image_grid_thw"] = grid[torch.tensor(picked, dtype=torch.long)]  # [images, 3]
    return out


def repeat_for_group(batch: dict, group_size: int, image_token: int, merge_size: int = 2) -> dict:
    """Repeat each prompt ``group_size`` times, contiguously: rows [p0]*G + [p1]*G + ..."""
    num_prompts = batch["input_ids"].shape[0]
    rows = [p for p in range(num_prompts) for _ in range(group_size)]
    return select_rows(batch, rows, image_token, merge_size)
