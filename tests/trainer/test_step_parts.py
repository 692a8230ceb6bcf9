"""Pure pieces of a training step: micro-batch splitting by token count, option routing."""
from __future__ import annotations

from gpg_vl.trainer.step import accepted, micro_batches


def test_micro_batches_by_rows():
    assert micro_batches(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert micro_batches([], 3) == []


def test_micro_batches_by_token_count():
    # size 2, longest row 4: at most 8 padded tokens (rows x longest row in the batch) per pass.
    assert micro_batches(list(range(6)), 2, [4, 1, 1, 1, 4, 2]) == [[0, 1], [2, 3], [4, 5]]
    # Short rows share one fuller pass; the long row goes alone.
    assert micro_batches(list(range(6)), 2, [1, 1, 1, 1, 1, 4]) == [[0, 1, 2, 3, 4], [5]]
    # Rows keep their order and identity; empty completions count as one token.
    assert micro_batches([7, 3, 9], 1, [0, 0, 2]) == [[7, 3], [9]]


def test_accepted_keeps_only_the_keywords_a_function_takes():
    def estimator(rewards, group_size, *, scale="none"):
        return scale

    assert accepted(estimator, {"scale": "std", "eps": 1e-4}) == {"scale": "std"}
