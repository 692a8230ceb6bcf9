"""Peak memory of the update's log-prob forward + backward with Qwen's real vocabulary (151,936).

Issue 6: log-probs are computed only at completion positions and in chunks, so the full
[tokens, vocab] float32 tensor is never materialised. With 1,536 completion tokens that tensor
alone is 890 MiB; the test measures the process's peak resident memory (Linux VmHWM, reset just
before) over a forward + backward of ``grouped_completion_logprobs`` and requires it to stay below
half of that. A control allocation of the same kind shows the measurement does see such a tensor.
"""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from gpg_vl.bench.counters import peak_rss_mb, reset_peak_rss, rss_mb
from gpg_vl.models.forward import grouped_completion_logprobs
from gpg_vl.processing import encode_prompts

QWEN_VOCAB = 151_936
PROMPTS, G, C, CHUNK = 2, 8, 96, 64
FULL_BYTES = PROMPTS * G * C * QWEN_VOCAB * 4  # the [N*C, V] float32 logits: 890 MiB


def measured_peak_mb(fn) -> float:
    """Peak resident memory above the starting point while ``fn`` runs, in MiB."""
    if not reset_peak_rss() or rss_mb() is None:
        pytest.skip("needs Linux /proc/self/clear_refs to reset the peak resident set")
    start = rss_mb()
    fn()
    return peak_rss_mb() - start


@pytest.fixture(scope="module")
def real_vocab_model():
    """A 1-layer, hidden-64 Qwen2-VL whose embedding and head have Qwen's 151,936 rows."""
    from transformers import AutoModelForImageTextToText

    from gpg_vl.models.tiny import build_processor, tiny_config, train_tokenizer

    tokenizer = train_tokenizer(["What colour is the shape? <answer>red</answer>"], vocab_size=300)
    config = tiny_config("qwen2_vl", tokenizer, text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                                                          num_attention_heads=2, num_key_value_heads=1),
                         vision=dict(depth=1, embed_dim=32, num_heads=2))
    config.text_config.vocab_size = QWEN_VOCAB
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config)
    assert model.lm_head.weight.shape == (QWEN_VOCAB, 64)
    return model, build_processor("qwen2_vl", tokenizer, 56 * 56, 112 * 112)


def test_chunked_completion_logprobs_never_hold_the_full_vocab_tensor(real_vocab_model):
    model, processor = real_vocab_model
    samples = [{"id": str(k), "images": [Image.new("RGB", (56, 56), (40 * k, 90, 200))], "problem": "What colour?"}
               for k in range(PROMPTS)]
    batch = encode_prompts(processor, samples)
    rows = torch.arange(PROMPTS).repeat_interleave(G)  # [N = 16]
    ids = torch.randint(20, 250, (PROMPTS * G, C), generator=torch.Generator().manual_seed(0))  # [N, C]
    mask = torch.ones_like(ids)

    def forward_backward():
        out = grouped_completion_logprobs(model, batch, rows, ids, mask, chunk_tokens=CHUNK)  # [N, C]
        out.sum().backward()
        assert out.shape == (PROMPTS * G, C)

    peak = measured_peak_mb(forward_backward)
    full_mb = FULL_BYTES / 2**20
    print(f"peak above start: {peak:.0f} MiB; the full [tokens, vocab] float32 tensor: {full_mb:.0f} MiB")
    assert peak < full_mb / 2, f"peak {peak:.0f} MiB >= half of the {full_mb:.0f} MiB full-vocab tensor"

    def materialise_half():  # the control: half of that tensor, written, is seen
        torch.ones(FULL_BYTES // 8, dtype=torch.float32).sum()

    seen = measured_peak_mb(materialise_half)
    assert seen >= 0.9 * full_mb / 2, f"the measurement missed a {full_mb / 2:.0f} MiB tensor ({seen:.0f} MiB)"
