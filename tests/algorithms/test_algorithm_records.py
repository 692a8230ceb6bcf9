"""One record per algorithm: its advantage function, loss, needs and typed options; the config
checks the name and the options against it."""
from __future__ import annotations

import pytest
import torch

from gpg_vl.algorithms import ALGORITHMS, get_algorithm, register_algorithm
from gpg_vl.config import Config, ConfigError, load_config

REWARDS = torch.tensor([1.0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5])  # one varying group, one degenerate (G = 4)


def options(*overrides: str):
    return load_config(Config, None, list(overrides)).algorithm.options()


def test_alpha_is_gpgs_unless_set():
    """The paper's code scales by alpha only with --adjust_gd, which its GRPO runs do not set."""
    assert options().use_alpha is True
    assert options("algorithm.name=grpo").use_alpha is False
    assert options("algorithm.name=dr_grpo").use_alpha is False
    assert options("algorithm.name=grpo", "algorithm.use_alpha=true").use_alpha is True  # an explicit ablation
    assert options("algorithm.use_alpha=false").use_alpha is False


def test_option_the_algorithm_does_not_take_is_an_error_naming_the_key():
    for overrides, key in [(["algorithm.name=grpo", "algorithm.adv_scale=std"], "algorithm.adv_scale"),
                           (["algorithm.name=dr_grpo", "algorithm.adv_scale=none"], "algorithm.adv_scale"),
                           (["algorithm.name=dr_grpo", "algorithm.kl_beta=0.1"], "algorithm.kl_beta"),
                           (["algorithm.name=grpo", "algorithm.aggregation=token-mean"], "algorithm.aggregation"),
                           (["algorithm.kl_beta=0.1"], "algorithm.kl_beta"),
                           (["algorithm.clip_eps=0.3"], "algorithm.clip_eps")]:
        with pytest.raises(ConfigError, match=key):
            load_config(Config, None, overrides)
    with pytest.raises(ConfigError, match="'algorithm.name' must be one of .*'gpg'.*got 'ppo'"):
        load_config(Config, None, ["algorithm.name=ppo"])
    with pytest.raises(ConfigError, match="clip_eps"):
        load_config(Config, None, ["algorithm.name=grpo", "algorithm.clip_eps=1.0"])
    with pytest.raises(ConfigError, match="kl_beta"):
        load_config(Config, None, ["algorithm.name=grpo", "algorithm.kl_beta=-0.1"])


def test_options_reach_the_advantage_and_the_loss():
    gpg = get_algorithm("gpg")
    o = options("algorithm.adv_scale=std", "algorithm.aggregation=seq-mean")
    # group [1, 0, 0, 0]: r - mean = [0.75, -0.25, -0.25, -0.25], unbiased std 0.5 (+ 1e-4)
    torch.testing.assert_close(gpg.advantages(REWARDS, 4, o)[:4],
                               torch.tensor([0.75, -0.25, -0.25, -0.25]) / 0.5001)
    assert gpg.loss_kwargs(o, 16) == {"aggregation": "seq-mean"}
    grpo = get_algorithm("grpo")
    o = options("algorithm.name=grpo", "algorithm.clip_eps=0.1", "algorithm.kl_beta=0.5")
    assert grpo.loss_kwargs(o, 16) == {"clip_eps_low": 0.1, "clip_eps_high": 0.1, "kl_beta": 0.5}
    dr = get_algorithm("dr_grpo")
    assert dr.loss_kwargs(options("algorithm.name=dr_grpo"), 16) == \
        {"clip_eps_low": 0.2, "clip_eps_high": 0.2, "max_completion_length": 16}
    torch.testing.assert_close(dr.advantages(REWARDS, 4, dr.resolve({}))[:4], torch.tensor([0.75, -0.25, -0.25, -0.25]))
    # Every keyword a record produces is one its loss accepts.
    for algo in ALGORITHMS.values():
        assert set(algo.loss_kwargs(algo.resolve({}), 8)) <= set(algo.loss.hparam_names)


def test_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        register_algorithm(get_algorithm("gpg"))
