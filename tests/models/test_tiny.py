"""Tiny local checkpoints load like released ones: real classes, Qwen tokens and chat template."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from gpg_vl.families import FAMILIES, QWEN_SPECIAL_TOKENS, get_family

PROCESSOR_CLASS = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor",
                   "qwen3_vl": "Qwen3VLProcessor", "qwen3_5": "Qwen3VLProcessor", "qwen3_vl_moe": "Qwen3VLProcessor"}
MODEL_CLASS = {"qwen2_vl": "Qwen2VLForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
               "qwen3_vl": "Qwen3VLForConditionalGeneration", "qwen3_5": "Qwen3_5ForConditionalGeneration",
               "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration"}
# What each release's template writes for [image, "What?"] (chat_template.json of Qwen2-VL-2B-Instruct,
# Qwen3-VL-2B-Instruct: no default system message; Qwen3.5 opens its reasoning block).
GENERATION_PROMPT = {
    "qwen2_vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n", "qwen2_5_vl":
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n", "qwen3_vl": "", "qwen3_5": "", "qwen3_vl_moe": ""}
ASSISTANT = {"qwen2_vl": "", "qwen2_5_vl": "", "qwen3_vl": "", "qwen3_5": "<think>\n", "qwen3_vl_moe": ""}


@pytest.fixture(scope="module", params=FAMILIES)
def loaded(request, tiny_dirs):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = tiny_dirs[request.param]
    return (request.param, folder, AutoProcessor.from_pretrained(folder),
            AutoModelForImageTextToText.from_pretrained(folder))


def test_auto_classes_load_the_real_family_classes(loaded):
    family, folder, processor, model = loaded
    assert type(processor).__name__ == PROCESSOR_CLASS[family]
    assert type(model).__name__ == MODEL_CLASS[family]
    assert model.config.model_type == family
    meta = json.loads((folder / "gpg_vl_tiny.json").read_text())
    assert meta["family"] == family
    assert meta["parameters"] == sum(p.numel() for p in model.parameters())
    assert 2_000_000 < meta["parameters"] < 5_000_000  # the ~3.3M-parameter demo size


def test_tokenizer_has_every_qwen_special_token_as_one_token(loaded):
    _, _, processor, model = loaded
    tok = processor.tokenizer
    ids = []
    for token in QWEN_SPECIAL_TOKENS:
        enc = tok(token, add_special_tokens=False)["input_ids"]
        assert len(enc) == 1, token
        assert tok.convert_ids_to_tokens(enc[0]) == token
        ids.append(enc[0])
    assert len(set(ids)) == len(QWEN_SPECIAL_TOKENS)
    assert len(tok) == model.config.text_config.vocab_size
    assert tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>"
    cfg = model.config
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert cfg.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert cfg.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert model.generation_config.pad_token_id == tok.pad_token_id


def test_chat_template_is_the_family_s(loaded):
    family, _, processor, _ = loaded
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What?"}]}]
    assert processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == (
        GENERATION_PROMPT[family] +
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What?<|im_end|>\n"
        "<|im_start|>assistant\n" + ASSISTANT[family])
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Yo"}]
    assert processor.tokenizer.apply_chat_template(msgs, tokenize=False) == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n")


def test_digits_and_answer_words_are_single_tokens(loaded):
    family, _, processor, _ = loaded
    tok = processor.tokenizer
    # transformers loads Qwen3.5's own tokenizer class, whose pre-tokenizer (the release's: digits one
    # by one, punctuation apart) replaces the trained one: longer answers, same text.
    words = () if family == "qwen3_5" else ("250", "1000", "<answer>", "</answer>")
    for word in words:
        assert len(tok(word, add_special_tokens=False)["input_ids"]) == 1, word
    text = "<answer>[0,250,500,750]</answer>"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_processor_turns_an_image_into_the_expected_tokens_and_the_model_runs(loaded):
    family, _, processor, model = loaded
    patch = get_family(family).patch_size
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]}]
    text = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    side = 8 * patch  # 112 px for patch 14, 128 px for patch 16
    enc = processor(text=[text], images=[Image.new("RGB", (side, side), (1, 2, 3))], return_tensors="pt")
    assert enc["image_grid_thw"].tolist() == [[1, 8, 8]]
    assert enc["pixel_values"].shape == (64, 3 * 2 * patch * patch)  # channels x temporal 2 x patch
    assert (enc["input_ids"] == model.config.image_token_id).sum() == 16  # 8 x 8 merged 2 x 2
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (1, enc["input_ids"].shape[1], model.config.text_config.vocab_size)
    assert torch.isfinite(logits).all()


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    from safetensors.torch import load_file

    from gpg_vl.models.tiny import build_tiny

    small = dict(text={"num_hidden_layers": 1}, vision={"depth": 1})
    a = load_file(build_tiny(tmp_path / "a", seed=3, **small) / "model.safetensors")
    b = load_file(build_tiny(tmp_path / "b", seed=3, **small) / "model.safetensors")
    c = load_file(build_tiny(tmp_path / "c", seed=4, **small) / "model.safetensors")
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
