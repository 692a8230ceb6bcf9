"""Build tiny random-weight Qwen2-VL / Qwen2.5-VL checkpoints locally (no hub access needed).

The checkpoint uses the real transformers classes and is saved in Hugging Face format, so
``AutoProcessor.from_pretrained(DIR)`` and ``AutoModelForImageTextToText.from_pretrained(DIR)``
load it exactly like a released model. The tokenizer is a byte-level BPE trained here, carrying
Qwen's special tokens and Qwen2-VL's chat template; digit runs and task words that occur often in
the training corpus become single tokens, which keeps answers short for a model this small
(issue 2: "a 324-token BPE in which colour words and digits are single tokens").
"""
from __future__ import annotations

import json
from pathlib import Path

from gpg_vl.families import QWEN_SPECIAL_TOKENS, get_family

# Qwen2-VL's released chat template (chat_template.json of Qwen/Qwen2-VL-2B-Instruct).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Generic text so that any prompt tokenizes sensibly (byte-level BPE covers every byte anyway).
_BASE_CORPUS = [
    "You are a helpful assistant.",
    "Answer the question about the image. Output the final answer in <answer> </answer> tags.",
    "<think> Let me look at the image carefully. </think> <answer> 42 </answer>",
    "What is shown in the picture? How many objects are there? Where is the object?",
    "the a an of in on at to is are what which how many where box [0, 0, 1000, 1000]",
    "0 1 2 3 4 5 6 7 8 9 10 100 250 500 750 1000 degrees cm m",
]

# Sizes of the embedded demo model (issue 2, item 10: ~3.3M parameters).
TINY_TEXT = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048)
TINY_VISION = dict(depth=2, embed_dim=128, num_heads=4, mlp_ratio=2)


def train_tokenizer(corpus: list[str], vocab_size: int = 400):
    """A byte-level BPE with Qwen's special tokens, as a transformers fast tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Digit runs stay whole (so "250" can become one token), punctuation stands alone.
    split = pre_tokenizers.Split(Regex(r"<\|[a-z_]+\|>|</?[a-z]+>|\d+| ?[A-Za-z]+|\s+|[^\sA-Za-z\d]"),
                                 behavior="isolated")
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size + len(QWEN_SPECIAL_TOKENS), special_tokens=list(QWEN_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(_BASE_CORPUS) + list(corpus), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token=None, bos_token=None, additional_special_tokens=list(QWEN_SPECIAL_TOKENS[3:]),
        chat_template=QWEN2_VL_CHAT_TEMPLATE, padding_side="left", model_max_length=32768)


def tiny_config(family: str, tokenizer, text: dict | None = None, vision: dict | None = None):
    """A Qwen2-VL or Qwen2.5-VL config of the real class with tiny sizes."""
    fam = get_family(family)
    text = {**TINY_TEXT, **(text or {})}
    vision = {**TINY_VISION, **(vision or {})}
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    # M-RoPE splits head_dim/2 rotary frequencies over (t, h, w); releases use [16, 24, 24] of 64.
    quarter = head_dim // 8
    mrope = [head_dim // 2 - 4 * quarter, 2 * quarter, 2 * quarter]
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")]}
    text_cfg = dict(vocab_size=len(tokenizer), rope_scaling={"type": "mrope", "mrope_section": mrope},
                    bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
                    eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                    pad_token_id=tokenizer.pad_token_id, rope_theta=10000.0, **text)
    if fam.name == "qwen2_vl":
        from transformers import Qwen2VLConfig
        vis = dict(depth=vision["depth"], embed_dim=vision["embed_dim"], num_heads=vision["num_heads"],
                   mlp_ratio=vision["mlp_ratio"], hidden_size=text["hidden_size"])
        return Qwen2VLConfig(text_config=text_cfg, vision_config=vis, **ids)
    from transformers import Qwen2_5_VLConfig
    vis = dict(depth=vision["depth"], hidden_size=vision["embed_dim"], num_heads=vision["num_heads"],
               intermediate_size=vision["embed_dim"] * vision["mlp_ratio"],
               out_hidden_size=text["hidden_size"], fullatt_block_indexes=[vision["depth"] - 1],
               window_size=112)
    return Qwen2_5_VLConfig(text_config=text_cfg, vision_config=vis, **ids)


def build_processor(family: str, tokenizer, min_pixels: int, max_pixels: int):
    """The family's real processor class around the local tokenizer."""
    from transformers.models.qwen2_vl import Qwen2VLImageProcessor

    image_processor = Qwen2VLImageProcessor(size={"shortest_edge": min_pixels, "longest_edge": max_pixels})
    if get_family(family).name == "qwen2_vl":
        from transformers import Qwen2VLProcessor as Proc
    else:
        from transformers import Qwen2_5_VLProcessor as Proc
    from transformers.models.qwen2_vl import Qwen2VLVideoProcessor

    return Proc(image_processor=image_processor, tokenizer=tokenizer,
                video_processor=Qwen2VLVideoProcessor(), chat_template=QWEN2_VL_CHAT_TEMPLATE)


def build_tiny(out_dir: str | Path, family: str = "qwen2_vl", seed: int = 0, corpus: list[str] = (),
               vocab_size: int = 400, text: dict | None = None, vision: dict | None = None,
               min_pixels: int = 56 * 56, max_pixels: int = 448 * 448) -> Path:
    """Build and save a random-weight tiny policy, tokenizer and processor; returns the folder."""
    import torch
    from transformers import AutoModelForImageTextToText

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(list(corpus), vocab_size=vocab_size)
    config = tiny_config(family, tokenizer, text, vision)
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    build_processor(family, tokenizer, min_pixels, max_pixels).save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    (out / "gpg_vl_tiny.json").write_text(json.dumps(
        {"family": get_family(family).name, "seed": seed, "parameters": n_params,
         "vocab_size": len(tokenizer)}, indent=2))
    return out
