"""The update scores completions under the distribution they were sampled from: softmax(logits / T)."""
import torch

from gpg_vl.models.forward import token_logprobs


def test_token_logprobs_divide_logits_by_the_sampling_temperature():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 11, bias=False)
    hidden, targets = torch.randn(5, 8), torch.tensor([0, 3, 10, 4, 4])
    for temperature in (1.0, 0.7, 1.5):
        expected = torch.log_softmax(head(hidden) / temperature, dim=-1)[torch.arange(5), targets]
        got = token_logprobs(hidden, head, targets, chunk_tokens=2, temperature=temperature)
        assert got.shape == (5,)
        torch.testing.assert_close(got, expected)
    # Different temperatures give different values (the argument is not ignored).
    assert not torch.allclose(token_logprobs(hidden, head, targets, temperature=1.5),
                              token_logprobs(hidden, head, targets, temperature=1.0))
