"""Pure pieces of a training step, without a model: beta_th's group selection, the micro-batch
plan (token-count split, zero-advantage rows left out, cross-rank padding)."""
from __future__ import annotations

import pytest
import torch

from gpg_vl.trainer.plan import MicroBatch, enough_valid, keep_groups, micro_batches, pad_plan, plan_micro_batches


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


def test_keep_groups_takes_valid_groups_first_then_fills():
    # Draw 0: prompts 0, 2 valid; draw 1: prompt 1 valid. 3 per rank: the three valid groups.
    assert keep_groups([[True, False, True], [False, True, False]], 3) == [[0, 2], [1]]
    # Too few valid groups: degenerate ones fill up, earlier draws first.
    assert keep_groups([[False, False, True], [False, False, False]], 3) == [[0, 1, 2], []]
    assert keep_groups([[False, True], [True, False]], 2) == [[1], [0]]
    assert keep_groups([[True, True]], 2) == [[0, 1]]


def test_enough_valid_is_the_global_fraction_against_beta_th():
    assert enough_valid(0, 4, None)  # no beta_th: one draw
    assert enough_valid(2, 5, 0.4) and not enough_valid(1, 5, 0.4)
    assert enough_valid(5, 5, 1.0) and not enough_valid(4, 5, 1.0)


def test_plan_leaves_zero_advantage_rows_out():
    # Piece 0 (G = 4): a varying group (rows 0-3) and a degenerate one (rows 4-7, advantage 0).
    adv = [torch.tensor([0.5, -0.5, 0.5, -0.5, 0.0, 0.0, 0.0, 0.0])]
    plan = plan_micro_batches([list(range(8))], adv, [[2] * 8], size=3, keep_zero=False)
    assert [mb.rows for mb in plan] == [[0, 1, 2], [3]]
    assert all(mb.weight == 1.0 for mb in plan)
    torch.testing.assert_close(torch.cat([mb.advantages for mb in plan]), adv[0][:4])
    # A loss with a KL term (GRPO) needs every row.
    assert [mb.rows for mb in plan_micro_batches([list(range(8))], adv, [[2] * 8], 3, True)] == \
        [[0, 1, 2], [3, 4, 5], [6, 7]]


def test_plan_over_pieces_keeps_rollout_rows():
    # Two pieces (draws) whose kept rows are 4..7 and 0..3 of their rollouts.
    adv = [torch.tensor([1.0, -1.0, 1.0, -1.0]), torch.tensor([0.0, 0.0, 0.0, 0.0])]
    plan = plan_micro_batches([[4, 5, 6, 7], [0, 1, 2, 3]], adv, [[1, 1, 1, 1], [1, 1, 1, 1]], 2, False)
    assert [(mb.piece, mb.rows) for mb in plan] == [(0, [4, 5]), (0, [6, 7])]


def test_pad_plan_repeats_at_weight_zero():
    plan = [MicroBatch(1, [4, 5], torch.tensor([1.0, -1.0]))]
    padded = pad_plan(plan, 3, MicroBatch(0, [0], torch.zeros(1)))
    assert len(padded) == 3 and padded[0] is plan[0]
    assert all(mb.weight == 0.0 and mb.rows == [4, 5] and mb.piece == 1 for mb in padded[1:])
    assert all(torch.equal(mb.advantages, torch.zeros(2)) for mb in padded[1:])
    empty = pad_plan([], 2, MicroBatch(0, [0], torch.zeros(1)))  # a rank with no live rows
    assert [(mb.piece, mb.rows, mb.weight) for mb in empty] == [(0, [0], 0.0)] * 2
    with pytest.raises(ValueError, match="n_passes"):
        pad_plan(plan + plan, 1, plan[0])
