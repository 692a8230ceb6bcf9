"""GRPO and Dr. GRPO baselines and the policy-loss registry, against hand-computed numbers."""
import math

import pytest
import torch

from gpg_vl.algorithms import ALGORITHMS, get_policy_loss

LN2 = math.log(2.0)


def grpo_clip_case():
    # Four one-token sequences, old logprob 0, so the ratio r = exp(logp):
    #   seq 0: logp +0.5, r = e^0.5 = 1.6487213,  A = +1: min(1.6487, 1.2)   = 1.2      clipped
    #   seq 1: logp +0.5, r = 1.6487213,          A = -1: min(-1.6487, -1.2) = -1.6487  free
    #   seq 2: logp -0.5, r = e^-0.5 = 0.6065307, A = +1: min(0.6065, 0.8)   = 0.6065   free
    #   seq 3: logp -0.5, r = 0.6065307,          A = -1: min(-0.6065, -0.8) = -0.8     clipped
    logp = torch.tensor([[0.5], [0.5], [-0.5], [-0.5]], requires_grad=True)
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    mask = torch.ones(4, 1)
    return logp, adv, mask, torch.zeros(4, 1)


def test_grpo_clipping_value_gradient_and_fraction():
    logp, adv, mask, old = grpo_clip_case()
    # ref = logp: k3 = e^0 - 0 - 1 = 0 and its gradient 1 - e^0 = 0, so only the surrogate counts
    loss, metrics = get_policy_loss("grpo")(
        logp, adv, mask, old_logprobs=old, ref_logprobs=logp.detach()
    )
    # objective mean = (1.2 - 1.6487213 + 0.6065307 - 0.8) / 4 = -0.6421906 / 4 = -0.1605477
    assert loss.shape == ()
    assert loss.item() == pytest.approx(0.1605477, abs=1e-6)
    (grad,) = torch.autograd.grad(loss, logp)
    # clipped tokens: 0;  free ones: -(1/4) * r * A -> seq 1: 1.6487213 / 4 = 0.4121803,
    # seq 2: -0.6065307 / 4 = -0.1516327
    torch.testing.assert_close(grad, torch.tensor([[0.0], [0.4121803], [-0.1516327], [0.0]]))
    assert metrics["clip_fraction"].item() == pytest.approx(0.5)  # 2 of 4 tokens
    assert metrics["kl"].item() == pytest.approx(0.0)
    assert not metrics["kl"].requires_grad


def test_grpo_clip_higher():
    logp, adv, mask, old = grpo_clip_case()
    # clip_eps_high = 0.7: seq 0's r = 1.6487 < 1.7 is no longer clipped; its gradient is
    # -(1/4) * 1.6487213 = -0.4121803; seq 3 (r < 0.8, A < 0) stays clipped -> 1 of 4
    loss, metrics = get_policy_loss("grpo")(
        logp, adv, mask, old_logprobs=old, ref_logprobs=logp.detach(), clip_eps_high=0.7
    )
    (grad,) = torch.autograd.grad(loss, logp)
    torch.testing.assert_close(grad[0], torch.tensor([-0.4121803]))
    assert metrics["clip_fraction"].item() == pytest.approx(0.25)


def test_grpo_k3_kl_value_and_gradient():
    # logp = old = 0 (ratio 1) and A = 0, so the loss is the KL term alone. Reference:
    #   seq 0: ref = [ln 2, 0]  -> k3 = e^ln2 - ln2 - 1 = 2 - 0.6931472 - 1 = 0.3068528, and 0
    #   seq 1: ref = [-ln 2, pad] -> k3 = 0.5 + 0.6931472 - 1 = 0.1931472 (pad holds 99: ignored)
    # mean k3 over the 3 valid tokens = (0.3068528 + 0 + 0.1931472) / 3 = 0.5 / 3 = 0.1666667
    logp = torch.zeros(2, 2, requires_grad=True)
    mask = torch.tensor([[1, 1], [1, 0]])
    ref = torch.tensor([[LN2, 0.0], [-LN2, 99.0]])
    loss, metrics = get_policy_loss("grpo")(
        logp, torch.zeros(2), mask, old_logprobs=torch.zeros(2, 2), ref_logprobs=ref, kl_beta=0.1
    )
    assert metrics["kl"].item() == pytest.approx(0.1666667, abs=1e-6)
    # loss = beta * mean over sequences of per-sequence mean k3
    #      = 0.1 * (0.3068528 / 2 + 0.1931472 / 1) / 2 = 0.1 * 0.3465736 / 2 = 0.0173287
    assert loss.item() == pytest.approx(0.0173287, abs=1e-6)
    # d k3 / d logp = 1 - exp(ref - logp): -1 at ln 2, 0 at 0, 0.5 at -ln 2; scaled by
    # beta / (len_i * N): seq 0: 0.1 * -1 / 4 = -0.025, 0;  seq 1: 0.1 * 0.5 / 2 = 0.025, pad 0
    (grad,) = torch.autograd.grad(loss, logp)
    torch.testing.assert_close(grad, torch.tensor([[-0.025, 0.0], [0.025, 0.0]]))


def dr_grpo_case(mask):
    # ratio 1 (old = logp), so the surrogate is A on every valid token
    logp = torch.tensor([[-1.0, -2.0, -0.5, -0.7], [-0.3, -0.2, -0.9, -1.1]], requires_grad=True)
    return logp, torch.tensor([1.0, -1.0]), torch.tensor(mask), logp.detach().clone()


def test_dr_grpo_constant_normaliser():
    # seq 0: 2 tokens, A = +1;  seq 1: 4 tokens, A = -1;  max_completion_length = 8, N = 2
    # loss = -(2 * 1 + 4 * -1) / (8 * 2) = 2 / 16 = 0.125
    logp, adv, mask, old = dr_grpo_case([[1, 1, 0, 0], [1, 1, 1, 1]])
    loss_fn = get_policy_loss("dr_grpo")
    loss, metrics = loss_fn(logp, adv, mask, old_logprobs=old, max_completion_length=8)
    assert loss.item() == pytest.approx(0.125)
    assert metrics["clip_fraction"].item() == 0.0
    # every valid token weighs -A / 16 = -+0.0625, whatever its sequence's length
    (grad,) = torch.autograd.grad(loss, logp)
    expected = torch.tensor([[-0.0625, -0.0625, 0.0, 0.0], [0.0625, 0.0625, 0.0625, 0.0625]])
    torch.testing.assert_close(grad, expected)
    # GRPO's per-sequence mean weighs them -A / (len_i * N): 1/4 = 0.25 vs 1/8 = 0.125
    grpo, _ = get_policy_loss("grpo")(logp, adv, mask, old_logprobs=old, ref_logprobs=old)
    (grad,) = torch.autograd.grad(grpo, logp)
    expected = torch.tensor([[-0.25, -0.25, 0.0, 0.0], [0.125, 0.125, 0.125, 0.125]])
    torch.testing.assert_close(grad, expected)


def test_dr_grpo_normaliser_options():
    logp, adv, mask, old = dr_grpo_case([[1, 1, 0, 0], [1, 1, 1, 1]])
    loss_fn = get_policy_loss("dr_grpo")
    # None falls back to T = 4: 2 / (4 * 2) = 0.25
    assert loss_fn(logp, adv, mask, old_logprobs=old)[0].item() == pytest.approx(0.25)
    # global batch of 4 sequences: 2 / (8 * 4) = 0.0625
    loss, _ = loss_fn(logp, adv, mask, old_logprobs=old, max_completion_length=8, num_sequences=4)
    assert loss.item() == pytest.approx(0.0625)
    with pytest.raises(ValueError, match="max_length"):
        loss_fn(logp, adv, mask, old_logprobs=old, max_completion_length=0)


def test_registry_flags_and_uniform_call():
    assert set(ALGORITHMS) == {"gpg", "grpo", "dr_grpo"}
    flags = {n: (a.needs_old_logprobs, a.needs_reference) for n, a in ALGORITHMS.items()}
    assert flags == {"gpg": (False, False), "grpo": (True, True), "dr_grpo": (True, False)}
    logp = torch.zeros(2, 3, requires_grad=True)
    for name in ALGORITHMS:
        loss, metrics = get_policy_loss(name)(
            logp, torch.tensor([1.0, -1.0]), torch.ones(2, 3), alpha=2.0, num_tokens=6,
            num_sequences=2, old_logprobs=torch.zeros(2, 3), ref_logprobs=torch.zeros(2, 3),
        )
        assert loss.shape == () and isinstance(metrics, dict)
        assert all(v.shape == () and not v.requires_grad for v in metrics.values())


def test_registry_errors():
    logp, adv, mask, old = grpo_clip_case()
    with pytest.raises(ValueError, match="algorithm 'ppo'"):
        get_policy_loss("ppo")
    with pytest.raises(TypeError, match="kl_beta"):
        get_policy_loss("gpg")(logp, adv, mask, kl_beta=0.1)  # GPG has no KL
    assert get_policy_loss("gpg").hparam_names == ("aggregation",)
    assert get_policy_loss("grpo").hparam_names == ("clip_eps_low", "clip_eps_high", "kl_beta")
    with pytest.raises(ValueError, match="old_logprobs"):
        get_policy_loss("grpo")(logp, adv, mask, ref_logprobs=old)
    with pytest.raises(ValueError, match="ref_logprobs"):
        get_policy_loss("grpo")(logp, adv, mask, old_logprobs=old)
    with pytest.raises(ValueError, match="old_logprobs must have the shape"):
        get_policy_loss("dr_grpo")(logp, adv, mask, old_logprobs=old[:2])
    with pytest.raises(ValueError, match="clip_eps"):
        get_policy_loss("grpo")(
            logp, adv, mask, old_logprobs=old, ref_logprobs=old, clip_eps_low=1.0
        )
    with pytest.raises(ValueError, match="alpha"):
        get_policy_loss("gpg")(logp, adv, mask, alpha=0.0)
