"""PromptSampler: epoch permutations without repeats, disjoint rank slices, resumable position."""
from __future__ import annotations

import pytest

from gpg_vl.trainer.sampler import PromptSampler


def test_each_epoch_visits_every_row_once():
    s = PromptSampler(10, seed=0)
    stream = [i for _ in range(5) for i in s.draw(4)]  # 20 positions: two epochs, draws straddle them
    assert sorted(stream[:10]) == list(range(10))
    assert sorted(stream[10:]) == list(range(10))
    assert stream[:10] != stream[10:]  # a fresh permutation per epoch
    assert stream[:10] != list(range(10))  # shuffled
    assert s.position == 20


def test_same_seed_same_order_other_seed_other_order():
    a, b, c = PromptSampler(50, seed=3), PromptSampler(50, seed=3), PromptSampler(50, seed=4)
    assert a.draw(20) == b.draw(20)
    assert PromptSampler(50, seed=3).draw(20) != c.draw(20)


def test_ranks_take_disjoint_slices_of_one_stream():
    single = PromptSampler(12, seed=1)
    ranks = [PromptSampler(12, seed=1, rank=r, world_size=3) for r in range(3)]
    for _ in range(4):  # 4 draws of 6 = two epochs
        expected = single.draw(6)
        got = [s.draw(6) for s in ranks]
        assert all(len(g) == 2 for g in got)
        assert [i for g in got for i in g] == expected
        assert len(set(expected)) == 6
    assert all(s.position == single.position == 24 for s in ranks)


def test_position_round_trips_through_state_dict():
    s = PromptSampler(7, seed=2)
    s.draw(5)
    state = s.state_dict()
    assert state == {"position": 5, "seed": 2, "num_rows": 7}
    resumed = PromptSampler(7, seed=2)
    resumed.load_state_dict(state)
    for _ in range(3):  # across the epoch boundary at 7 and 14
        assert resumed.draw(3) == s.draw(3)


def test_bad_sizes_are_errors():
    with pytest.raises(ValueError, match="empty"):
        PromptSampler(0, seed=0)
    with pytest.raises(ValueError, match="ranks"):
        PromptSampler(10, seed=0, world_size=4).draw(6)
