"""The weights a vLLM sync sends (gpg_vl/engines/weights.py), without vLLM (main environment):
chunks stay within their byte bound and together hold every weight once, with its value."""
from __future__ import annotations

import torch

from gpg_vl.engines.weights import named_weights


def test_chunks_stay_within_the_bound_and_cover_every_weight(policy_factory):
    model, _, _ = policy_factory("qwen2_vl")
    bound = 1 << 20  # the tiny model: 13 MiB of float32 weights, the largest 1 MiB
    chunks = list(named_weights(model, only_changing=False, chunk_bytes=bound))
    sizes = [[t.numel() * t.element_size() for _, t in chunk] for chunk in chunks]
    assert len(chunks) > 5
    assert all(sum(s) <= max(bound, max(s)) for s in sizes)  # one chunk of full tensors at a time
    sent = {name: t for chunk in chunks for name, t in chunk}
    params = dict(model.named_parameters())
    assert sum(len(c) for c in chunks) == len(sent) == len(params)  # each weight exactly once
    assert all(torch.equal(sent[n], p) for n, p in params.items())
