"""Build tiny random-weight checkpoints of any family in ``gpg_vl.families`` locally (no hub access).

The checkpoint uses the real transformers classes and is saved in Hugging Face format, so
``AutoProcessor.from_pretrained(DIR)`` and ``AutoModelForImageTextToText.from_pretrained(DIR)``
load it exactly like a released model. The tokenizer is a byte-level BPE trained here, carrying
Qwen's special tokens and the family's chat template; digit runs and task words that occur often in
the training corpus become single tokens, which keeps answers short for a model this small
(issue 2: "a 324-token BPE in which colour words and digits are single tokens").
"""
from __future__ import annotations

import json
from pathlib import Path

from gpg_vl.families import FAMILIES, QWEN_SPECIAL_TOKENS, get_family, templates

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


def train_tokenizer(corpus: list[str], vocab_size: int = 400, chat_template: str = templates.QWEN2_VL):
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
        chat_template=chat_template, padding_side="left", model_max_length=32768)


def tiny_config(family: str, tokenizer, text: dict | None = None, vision: dict | None = None):
    """A config of the family's real class with tiny sizes (the family module writes it)."""
    text = {**TINY_TEXT, **(text or {})}
    vision = {**TINY_VISION, **(vision or {})}
    return get_family(family).tiny_config(tokenizer, text, vision)


def build_processor(family: str, tokenizer, min_pixels: int, max_pixels: int):
    """The family's real processor class around the local tokenizer, with its chat template."""
    return get_family(family).build_processor(tokenizer, min_pixels, max_pixels)


def build_tiny(out_dir: str | Path, family: str = next(iter(FAMILIES)), seed: int = 0, corpus: list[str] = (),
               vocab_size: int = 400, text: dict | None = None, vision: dict | None = None,
               min_pixels: int = 56 * 56, max_pixels: int = 448 * 448) -> Path:
    """Build and save a random-weight tiny policy, tokenizer and processor; returns the folder."""
    import torch
    from transformers import AutoModelForImageTextToText

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(list(corpus), vocab_size=vocab_size, chat_template=get_family(family).chat_template)
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
