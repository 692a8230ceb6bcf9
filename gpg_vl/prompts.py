"""Prompt templates: fill one in for a sample, and check it fits the prompt format (issue 5).

Two formats (``data.prompt_format``):
- ``chat``: the template is the user text; the processor's chat template wraps it, with the
  sample's images before it (what the Instruct models were trained on);
- ``raw``: the template is the whole prompt, no chat template: base models, as
  VisualThinker-R1-Zero trains Qwen2-VL-2B. ``{image}`` marks where the images go; it becomes
  one vision placeholder per image (``families.IMAGE_PLACEHOLDER``), which the processor expands
  into the image's tokens.

Pure Python (no torch): the config checks templates with it when it loads.
"""
from __future__ import annotations

import string

from gpg_vl.errors import ConfigError, DataError
from gpg_vl.families import IMAGE_PLACEHOLDER

PROMPT_FORMATS = ("chat", "raw")
IMAGE_FIELD = "image"  # the template field that marks the images' place in a raw prompt


def template_fields(template: str) -> list[str]:
    """The field names ``template`` uses, in order, repeats included ("{a} {b} {a}" -> a, b, a)."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:  # e.g. a single "{" or "}"
        raise ConfigError(f"prompt template {template!r} is not a valid format string: {exc}") from None


def check_prompt_template(template: str, prompt_format: str = "chat") -> None:
    """A raw template names {image} exactly once; a chat template never (its images come first)."""
    if prompt_format not in PROMPT_FORMATS:
        raise ConfigError(f"prompt format {prompt_format!r}; expected one of {PROMPT_FORMATS}")
    uses = template_fields(template).count(IMAGE_FIELD)
    if prompt_format == "raw" and uses != 1:
        raise ConfigError(f"a raw prompt template must contain {{{IMAGE_FIELD}}} once, where the images go "
                         f"(found {uses}): {template!r}")
    if prompt_format == "chat" and uses:
        raise ConfigError(f"{{{IMAGE_FIELD}}} marks the images' place in a raw prompt (prompt format raw); "
                         f"a chat prompt puts the images before the text: {template!r}")


def render_prompt(sample: dict, prompt_template: str = "{problem}") -> str:
    """The template filled with the sample's fields (chat: the user text; raw: the whole prompt
    but its completion prefix). ``{image}`` becomes one vision placeholder per sample image."""
    placeholders = IMAGE_PLACEHOLDER * len(sample.get("images") or [])
    try:
        return prompt_template.format(**{**sample, IMAGE_FIELD: placeholders})
    except KeyError as exc:
        raise DataError(f"prompt_template needs field {exc} that sample {sample.get('id')!r} lacks") from None
