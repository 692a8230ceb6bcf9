"""Group advantages, GPG's alpha and the valid fraction, checked against numbers worked by hand."""
import math

import pytest
import torch

from gpg_vl.algorithms import (
    STD_EPS,
    alpha_from_counts,
    degenerate_group_mask,
    get_advantage_estimator,
    gpg_alpha,
    group_advantages,
    valid_fraction,
)

# Three groups of G = 4, each contiguous:
#   group 0: [1, 0, 0, 0]          one sample differs from the rest; mean 0.25
#   group 1: [1, 1, 0, 0]          mean 0.5
#   group 2: [0.5, 0.5, 0.5, 0.5]  all equal: degenerate
REWARDS = torch.tensor([1.0, 0, 0, 0, 1, 1, 0, 0, 0.5, 0.5, 0.5, 0.5])

# r - mean:  group 0 -> [0.75, -0.25, -0.25, -0.25]; group 1 -> [0.5, 0.5, -0.5, -0.5]; group 2 -> 0
CENTRED = torch.tensor([0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5, 0, 0, 0, 0])

# Unbiased std (divide by G - 1 = 3):
#   group 0: squared deviations 0.5625 + 3 * 0.0625 = 0.75; 0.75 / 3 = 0.25; std = 0.5
#            -> [0.75 / 0.5, -0.25 / 0.5, ...] = [1.5, -0.5, -0.5, -0.5]
#   group 1: squared deviations 4 * 0.25 = 1; 1 / 3; std = 1 / sqrt(3) = 0.5773503
#            -> +-0.5 * sqrt(3) = +-0.8660254
#   group 2: 0 / (0 + eps) = 0
S3 = 0.8660254
STD_SCALED = torch.tensor([1.5, -0.5, -0.5, -0.5, S3, S3, -S3, -S3, 0, 0, 0, 0])


def test_advantages_without_std_are_mean_centred():
    adv = group_advantages(REWARDS, group_size=4)
    assert adv.shape == (12,)
    torch.testing.assert_close(adv, CENTRED)


def test_advantages_with_std_hand_values():
    adv = group_advantages(REWARDS, group_size=4, scale="std", eps=1e-12)
    assert adv.shape == (12,)
    torch.testing.assert_close(adv, STD_SCALED, rtol=1e-6, atol=1e-6)


def test_default_eps_is_1e_4_as_in_the_papers_code():
    assert STD_EPS == 1e-4
    adv = group_advantages(REWARDS, group_size=4, scale="std")
    # group 0, sample 0: 0.75 / (0.5 + 0.0001) = 0.75 / 0.5001 = 1.4997000600
    assert adv[0].item() == pytest.approx(1.49970006, rel=1e-6)
    # the degenerate group stays exactly 0, not NaN
    assert torch.equal(adv[8:], torch.zeros(4))


def test_integer_rewards_are_accepted():
    # groups [1, 0] and [1, 1]: means 0.5 and 1 -> [0.5, -0.5, 0, 0]
    adv = group_advantages(torch.tensor([1, 0, 1, 1]), group_size=2)
    torch.testing.assert_close(adv, torch.tensor([0.5, -0.5, 0.0, 0.0]))


def test_registered_estimators():
    torch.testing.assert_close(get_advantage_estimator("gpg")(REWARDS, 4), CENTRED)
    gpg_std = get_advantage_estimator("gpg")(REWARDS, 4, scale="std", eps=1e-12)
    torch.testing.assert_close(gpg_std, STD_SCALED, rtol=1e-6, atol=1e-6)
    grpo = get_advantage_estimator("grpo")(REWARDS, 4, eps=1e-12)
    torch.testing.assert_close(grpo, STD_SCALED, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(get_advantage_estimator("dr_grpo")(REWARDS, 4), CENTRED)
    with pytest.raises(ValueError, match="algorithm 'ppo'"):
        get_advantage_estimator("ppo")


def test_degenerate_group_mask():
    mask = degenerate_group_mask(REWARDS, 4)
    assert mask.dtype == torch.bool and mask.shape == (3,)
    assert mask.tolist() == [False, False, True]


def test_alpha_no_degenerate_groups():
    # groups [1, 0, 0, 0] and [1, 1, 0, 0]: B = 8, M = 0 -> 8 / 8 = 1
    assert gpg_alpha(REWARDS[:8], 4) == 1.0
    assert valid_fraction(REWARDS[:8], 4) == 1.0


def test_alpha_some_degenerate_groups():
    # REWARDS: B = 12, M = 4 (group 2) -> alpha = 12 / 8 = 1.5; valid fraction 8 / 12 = 2 / 3
    assert gpg_alpha(REWARDS, 4) == 1.5
    assert valid_fraction(REWARDS, 4) == pytest.approx(2 / 3)
    # [1,1,0,0 | 1,1,1,1 | 0,0,0,0 | 0,1,0,0]: B = 16, M = 8 -> alpha = 16 / 8 = 2; valid 0.5
    rewards = torch.tensor([1.0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0])
    assert gpg_alpha(rewards, 4) == 2.0
    assert valid_fraction(rewards, 4) == 0.5


def test_alpha_all_groups_degenerate_is_one():
    # B = M = 8: no gradient at all; alpha is defined as 1.0 and the trainer skips the step
    rewards = torch.tensor([1.0, 1, 1, 1, 0, 0, 0, 0])
    assert gpg_alpha(rewards, 4) == 1.0
    assert valid_fraction(rewards, 4) == 0.0


def test_alpha_from_counts():
    assert alpha_from_counts(16, 8) == 2.0
    assert alpha_from_counts(16, 0) == 1.0
    assert alpha_from_counts(16, 16) == 1.0
    # counts straight from an all-reduce: 24 / (24 - 6) = 24 / 18 = 1.3333
    assert alpha_from_counts(torch.tensor(24), torch.tensor(6)) == pytest.approx(4 / 3)
    for bad in [(0, 0), (8, 9), (8, -1)]:
        with pytest.raises(ValueError):
            alpha_from_counts(*bad)


@pytest.mark.parametrize(
    "fn", [group_advantages, degenerate_group_mask, gpg_alpha, valid_fraction]
)
def test_reward_shape_errors(fn):
    with pytest.raises(ValueError, match="1-D"):
        fn(REWARDS.reshape(3, 4), 4)
    with pytest.raises(ValueError, match="whole number of groups"):
        fn(REWARDS, 5)  # 12 is not a multiple of 5
    with pytest.raises(ValueError, match="group_size"):
        fn(REWARDS, 1)
    with pytest.raises(ValueError, match="group_size"):
        fn(REWARDS, True)
    with pytest.raises(ValueError, match="finite"):
        fn(torch.tensor([1.0, math.nan]), 2)
    with pytest.raises(ValueError, match="whole number of groups"):
        fn(torch.tensor([]), 2)


def test_advantage_option_errors():
    with pytest.raises(ValueError, match="scale"):
        group_advantages(REWARDS, 4, scale="batch")
    with pytest.raises(ValueError, match="eps"):
        group_advantages(REWARDS, 4, scale="std", eps=0.0)


@pytest.mark.parametrize("scale", ["none", "std"])
def test_zero_variance_groups_get_exactly_zero(scale):
    """All 0.2 with G = 8: float32's mean of eight 0.2 is 0.2 + 1.49e-8, so r - mean was
    -1.49e-8 (and -1.49e-4 after dividing by std + 1e-4 = 1e-4). Such a group carries no
    signal: its advantages are exactly 0, whatever the rounding, and the varying group next
    to it keeps its values (r - 0.5 = +-0.5)."""
    rewards = torch.tensor([0.2] * 8 + [1.0, 0.0] * 4)
    adv = group_advantages(rewards, 8, scale=scale)
    assert torch.equal(adv[:8], torch.zeros(8))  # exact, not close
    expected = torch.tensor([0.5, -0.5] * 4)
    if scale == "std":  # unbiased std of four 1s and four 0s: sqrt(8 * 0.25 / 7)
        expected = expected / (math.sqrt(2 / 7) + STD_EPS)
    torch.testing.assert_close(adv[8:], expected)
    for name in ("gpg", "grpo", "dr_grpo"):
        assert torch.equal(get_advantage_estimator(name)(rewards, 8)[:8], torch.zeros(8))
