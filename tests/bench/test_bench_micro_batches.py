"""Token-count micro-batching of the update (issue 6) and the padding it trims."""
from __future__ import annotations

import torch
from PIL import Image

from gpg_vl.models.forward import grouped_completion_logprobs
from gpg_vl.processing import encode_prompts
from gpg_vl.trainer.plan import micro_batches


def test_without_lengths_micro_batches_hold_a_fixed_number_of_rows():
    assert micro_batches([3, 4, 5, 6, 7], 2) == [[3, 4], [5, 6], [7]]


def test_equal_lengths_split_like_fixed_size():
    rows = list(range(10))
    assert micro_batches(rows, 4, [16] * 10) == micro_batches(rows, 4)


def test_short_completions_share_fuller_micro_batches():
    # Budget = 2 rows x 8 tokens = 16 padded tokens: the five 2-token rows share one micro-batch.
    rows, lengths = list(range(10, 18)), [8, 2, 2, 2, 2, 2, 2, 8]
    assert micro_batches(rows, 2, lengths) == [[10, 11], [12, 13, 14, 15, 16], [17]]
    assert len(micro_batches(rows, 2)) == 4


def test_token_budget_holds_and_order_is_kept():
    gen = torch.Generator().manual_seed(0)
    for size in (1, 3, 8):
        lengths = torch.randint(0, 40, (50,), generator=gen).tolist()
        rows = list(range(100, 150))
        batches = micro_batches(rows, size, lengths)
        assert [r for b in batches for r in b] == rows  # every row once, in order
        budget = size * max(max(lengths), 1)
        for b in batches:
            assert len(b) * max(max(lengths[r - 100] for r in b), 1) <= budget
        assert len(batches) <= len(micro_batches(rows, size))  # never more forwards than fixed-size


def test_all_empty_completions_still_form_batches():
    assert micro_batches([0, 1, 2], 2, [0, 0, 0]) == [[0, 1], [2]]


def test_trimming_padding_columns_leaves_the_log_probs_unchanged(policy_factory):
    """The update cuts each micro-batch at its longest row: the dropped columns are masked anyway."""
    model, processor, _ = policy_factory("qwen2_vl")
    model.eval()
    batch = encode_prompts(processor, [{"id": "a", "images": [Image.new("RGB", (56, 56), (200, 30, 30))],
                                        "problem": "What colour?"}])
    ids = torch.randint(20, 200, (3, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0, 0]])
    rows = torch.zeros(3, dtype=torch.long)
    with torch.no_grad():
        full = grouped_completion_logprobs(model, batch, rows, ids, mask)
        trimmed = grouped_completion_logprobs(model, batch, rows, ids[:, :4], mask[:, :4])
    torch.testing.assert_close(trimmed, full[:, :4], rtol=1e-5, atol=1e-5)
    assert (full[:, 4:] == 0).all()
