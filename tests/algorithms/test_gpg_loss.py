"""The GPG loss and its gradient, checked against numbers worked by hand."""
import math

import pytest
import torch

from gpg_vl.algorithms import get_policy_loss, gpg_loss

# Hand example: N = 2 sequences, T = 3 positions.
#   sequence 0: 2 valid tokens, A = +1;  sequence 1: 3 valid tokens, A = -2;  5 tokens in all.
# sum_t A * logp * mask:  seq 0: 1 * (-1 - 2) = -3;  seq 1: -2 * (-0.5 - 1.5 - 2.5) = 9
# total = -3 + 9 = 6
LOGP = [[-1.0, -2.0, -3.0], [-0.5, -1.5, -2.5]]
MASK = torch.tensor([[1, 1, 0], [1, 1, 1]])
ADV = torch.tensor([1.0, -2.0])
ALPHA = 1.5


def logp(values=LOGP) -> torch.Tensor:
    return torch.tensor(values, requires_grad=True)


def test_token_mean_value():
    # -alpha * 6 / 5 = -1.5 * 1.2 = -1.8
    loss = gpg_loss(logp(), ADV, MASK, alpha=ALPHA)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(-1.8)


def test_alpha_defaults_to_one():
    # -6 / 5 = -1.2
    assert gpg_loss(logp(), ADV, MASK).item() == pytest.approx(-1.2)


def test_seq_mean_value():
    # per-sequence means: seq 0: -3 / 2 = -1.5;  seq 1: 9 / 3 = 3;  mean (-1.5 + 3) / 2 = 0.75
    # loss = -1.5 * 0.75 = -1.125
    loss = gpg_loss(logp(), ADV, MASK, alpha=ALPHA, aggregation="seq-mean")
    assert loss.item() == pytest.approx(-1.125)


def test_num_tokens_override():
    # global token count 10: -1.5 * 6 / 10 = -0.9 (python number or all-reduced tensor)
    assert gpg_loss(logp(), ADV, MASK, alpha=ALPHA, num_tokens=10).item() == pytest.approx(-0.9)
    loss = gpg_loss(logp(), ADV, MASK, alpha=ALPHA, num_tokens=torch.tensor(10.0))
    assert loss.item() == pytest.approx(-0.9)


def test_num_sequences_override_for_seq_mean():
    # sum of per-sequence means 1.5, over 4 global sequences: -1.5 * 1.5 / 4 = -0.5625
    loss = gpg_loss(logp(), ADV, MASK, alpha=ALPHA, aggregation="seq-mean", num_sequences=4)
    assert loss.item() == pytest.approx(-0.5625)


def test_micro_batches_with_global_count_add_up_to_the_full_batch():
    # row 0 alone: -1.5 * (-3) / 5 = 0.9;  row 1 alone: -1.5 * 9 / 5 = -2.7;  sum = -1.8
    first = gpg_loss(logp(LOGP[:1]), ADV[:1], MASK[:1], alpha=ALPHA, num_tokens=5)
    second = gpg_loss(logp(LOGP[1:]), ADV[1:], MASK[1:], alpha=ALPHA, num_tokens=5)
    assert first.item() == pytest.approx(0.9)
    assert second.item() == pytest.approx(-2.7)
    assert (first + second).item() == pytest.approx(-1.8)


def test_gradient_is_minus_alpha_a_mask_over_token_count():
    # d loss / d logp_it = -alpha * A_i * mask_it / sum(mask):
    #   seq 0: -1.5 * 1 / 5 = -0.3 on its 2 tokens, 0 on padding
    #   seq 1: -1.5 * -2 / 5 = 0.6 on its 3 tokens
    x = logp()
    (grad,) = torch.autograd.grad(gpg_loss(x, ADV, MASK, alpha=ALPHA), x)
    assert grad.shape == (2, 3)
    torch.testing.assert_close(grad, torch.tensor([[-0.3, -0.3, 0.0], [0.6, 0.6, 0.6]]))


def test_seq_mean_gradient():
    # -alpha * A_i / (len_i * N):
    #   seq 0: -1.5 * 1 / (2 * 2) = -0.375;  seq 1: -1.5 * -2 / (3 * 2) = 0.5
    x = logp()
    (grad,) = torch.autograd.grad(gpg_loss(x, ADV, MASK, alpha=ALPHA, aggregation="seq-mean"), x)
    torch.testing.assert_close(grad, torch.tensor([[-0.375, -0.375, 0.0], [0.5, 0.5, 0.5]]))


def test_gradient_sign_raises_positive_advantage_samples():
    x = logp()
    (grad,) = torch.autograd.grad(gpg_loss(x, ADV, MASK, alpha=ALPHA), x)
    assert (grad[0, :2] < 0).all()  # A > 0: loss falls as logp rises
    assert (grad[1] > 0).all()  # A < 0: loss rises as logp rises
    # a step of +0.1 on sequence 0's two valid tokens: loss changes by -1.5 * 1 * 0.2 / 5 = -0.06
    stepped = [[-0.9, -1.9, -3.0], LOGP[1]]
    assert gpg_loss(logp(stepped), ADV, MASK, alpha=ALPHA).item() == pytest.approx(-1.86)


def test_padding_values_never_leak():
    # garbage (-inf, NaN) at the padded position of sequence 0: loss still -1.8, gradient finite
    x = logp([[-1.0, -2.0, -math.inf], LOGP[1]])
    loss = gpg_loss(x, ADV, MASK.bool(), alpha=ALPHA)
    (grad,) = torch.autograd.grad(loss, x)
    assert loss.item() == pytest.approx(-1.8)
    torch.testing.assert_close(grad, torch.tensor([[-0.3, -0.3, 0.0], [0.6, 0.6, 0.6]]))
    y = logp([[-1.0, -2.0, math.nan], LOGP[1]])
    assert gpg_loss(y, ADV, MASK, alpha=ALPHA).item() == pytest.approx(-1.8)


def test_all_padding_gives_zero_not_nan():
    loss = gpg_loss(logp(), ADV, torch.zeros(2, 3))
    assert loss.item() == 0.0


def test_bfloat16_logprobs_are_reduced_in_float32():
    x = torch.tensor(LOGP, dtype=torch.bfloat16, requires_grad=True)  # values exact in bf16
    loss = gpg_loss(x, ADV, MASK, alpha=ALPHA)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(-1.8)


def test_registered_gpg_matches_and_needs_no_extra_passes():
    loss_fn = get_policy_loss("gpg")
    assert not loss_fn.requires_old_logprobs and not loss_fn.requires_reference
    loss, metrics = loss_fn(logp(), ADV, MASK, alpha=ALPHA)
    assert loss.item() == pytest.approx(-1.8)
    assert metrics == {}
    loss, _ = loss_fn(logp(), ADV, MASK, alpha=ALPHA, aggregation="seq-mean")
    assert loss.item() == pytest.approx(-1.125)


def test_shape_errors():
    x = logp()
    with pytest.raises(ValueError, match="advantages"):
        gpg_loss(x, ADV[:, None], MASK)  # [N, 1] would broadcast silently
    with pytest.raises(ValueError, match="advantages"):
        gpg_loss(x, torch.ones(3), MASK)
    with pytest.raises(ValueError, match="mask"):
        gpg_loss(x, ADV, MASK[:, :2])
    with pytest.raises(ValueError, match="mask"):
        gpg_loss(x, ADV, MASK[0])  # [T] would broadcast over N
    with pytest.raises(ValueError, match="logprobs"):
        gpg_loss(x[0], ADV[:1], MASK[0])
    with pytest.raises(ValueError, match="floating"):
        gpg_loss(torch.ones(2, 3, dtype=torch.long), ADV, MASK)


def test_option_errors():
    with pytest.raises(ValueError, match="aggregation"):
        gpg_loss(logp(), ADV, MASK, aggregation="token-sum")
    with pytest.raises(ValueError, match="num_tokens"):
        gpg_loss(logp(), ADV, MASK, num_tokens=0)
    with pytest.raises(ValueError, match="num_sequences"):
        gpg_loss(logp(), ADV, MASK, aggregation="seq-mean", num_sequences=-2)
