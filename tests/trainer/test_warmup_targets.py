"""The demo's random-answer warm-up trains every drawn prompt on every answer of its task once,
so the answer distribution it aims at is exactly uniform per image (one random answer per prompt
left the marginals skewed by the last batches' draws, docs/benchmarks.md)."""
from __future__ import annotations

from collections import Counter

from gpg_vl.config import WarmupConfig
from gpg_vl.data.synthetic import answer_choices
from gpg_vl.models import load_policy
from gpg_vl.trainer import warmup


def test_answer_choices_are_the_tasks_answers_and_include_the_truth(synthetic_data):
    from gpg_vl.data.dataset import load_samples

    rows = load_samples(str(synthetic_data["test"]))
    for row in rows:
        choices = answer_choices(row)
        assert len(choices) == len(set(choices)) == 4
        assert row["answer"] in choices, row["id"]
    assert answer_choices({"task": "grounding", "image_size": [112, 112]}, frame="pixels")[3] == "[56,56,112,112]"


def test_random_answer_warmup_pairs_each_prompt_with_every_answer_once(tiny_dirs, synthetic_data, monkeypatch):
    from gpg_vl.data.dataset import load_samples

    steps = []  # per step: the rows encoded and the target texts
    real_encode, real_tokenize = warmup.encode_prompts, warmup.tokenize_targets

    def encode(processor, samples, **kw):
        steps.append({"rows": [s["id"] for s in samples]})
        return real_encode(processor, samples, **kw)

    def tokenize(tokenizer, texts):
        steps[-1]["texts"] = list(texts)
        return real_tokenize(tokenizer, texts)

    monkeypatch.setattr(warmup, "encode_prompts", encode)
    monkeypatch.setattr(warmup, "tokenize_targets", tokenize)
    model, processor, family = load_policy(str(tiny_dirs["qwen2_vl"]))
    samples = load_samples(str(synthetic_data["train"]))
    by_id = {s["id"]: s for s in samples}
    cfg = WarmupConfig(steps=2, lr=1e-3, batch_size=3, random_answers=True)
    warmup.run_warmup(model, processor, samples, cfg, encode_kwargs={"min_pixels": 12544, "max_pixels": 12544},
                      box_frame=family.box_frame, seed=0, log=lambda *_: None)
    assert len(steps) == 2
    for step in steps:
        assert len(step["rows"]) == len(step["texts"]) == 3 * 4  # 3 prompts x 4 answers
        per_prompt: dict = {}
        for rid, text in zip(step["rows"], step["texts"]):
            per_prompt.setdefault(rid, Counter())[text] += 1
        for rid, texts in per_prompt.items():
            want = {f"<answer>{a}</answer><|im_end|>" for a in answer_choices(by_id[rid], family.box_frame)}
            assert set(texts) == want and set(texts.values()) == {texts.total() // 4}, rid
