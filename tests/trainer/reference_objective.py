"""The GPG / GRPO / Dr.GRPO objectives computed from scratch, for the gradient-equivalence tests.

Nothing here calls the code under test's forward, masks, advantages or losses: the log-probs come
from the model's plain full-sequence forward over the group-repeated batch (every row re-encodes
its prompt and image; no shared cache, no chunking), the end-of-sequence masks, group means,
alpha = B / (B - M) and normalisers are worked out here, and autograd gives the gradient.
Formulas: GPG (arXiv 2504.02546) J_GPG with alpha; GRPO (DeepSeekMath, arXiv 2402.03300, Eq. 3
with the k3 KL of Eq. 4); Dr.GRPO (arXiv 2503.20783): GRPO without std or 1/|o_i|, a constant
max-length normaliser. One update per rollout, so the old policy is the current one, detached.
"""
from __future__ import annotations

import torch


def own_completion_mask(ids: torch.Tensor, end_ids: list[int]) -> torch.Tensor:
    """[N, C] 1 on every token up to and including the row's first end token, 0 after."""
    mask = torch.zeros_like(ids)
    for i, row in enumerate(ids.tolist()):
        for t, token in enumerate(row):
            mask[i, t] = 1
            if token in end_ids:
                break
    return mask


def plain_logprobs(model, prompts: dict, ids: torch.Tensor, temperature: float, banned: list[int]) -> torch.Tensor:
    """log p(o_t | prompt, o_<t) [N, C] from one full forward over prompt + completion.

    ``prompts`` is the processor's encoding of the group-repeated sample list (N rows, left
    padded); ``banned`` are the token ids sampling never draws (their logits are -inf there).
    """
    p = prompts["input_ids"].shape[1]
    logits = model(input_ids=torch.cat([prompts["input_ids"], ids], 1),
                   attention_mask=torch.cat([prompts["attention_mask"], torch.ones_like(ids)], 1),
                   mm_token_type_ids=torch.cat([prompts["mm_token_type_ids"], torch.zeros_like(ids)], 1),
                   pixel_values=prompts.get("pixel_values"), image_grid_thw=prompts.get("image_grid_thw"),
                   use_cache=False).logits  # [N, P + C, V]
    logits = logits[:, p - 1:-1].float() / temperature  # [N, C, V]: the state before each token
    logits[..., banned] = float("-inf")
    return torch.log_softmax(logits, -1).gather(-1, ids[..., None]).squeeze(-1)  # [N, C]


def own_advantages(rewards: list[float], g: int, std: bool) -> tuple[torch.Tensor, int]:
    """(r_i - group mean) [/ (unbiased group std + 1e-4)] per row, and M, the rows in all-equal groups."""
    adv, degenerate = [], 0
    for k in range(0, len(rewards), g):
        group = [float(r) for r in rewards[k:k + g]]
        mean = sum(group) / g
        spread = (sum((r - mean) ** 2 for r in group) / (g - 1)) ** 0.5
        if max(group) == min(group):
            degenerate += g
            adv += [0.0] * g
        else:
            adv += [(r - mean) / (spread + 1e-4) if std else r - mean for r in group]
    return torch.tensor(adv, dtype=torch.float64), degenerate


def objective(algorithm: str, logp: torch.Tensor, mask: torch.Tensor, rewards: list[float], g: int, *,
              aggregation: str = "token-mean", adv_std: bool = False, ref_logp: torch.Tensor | None = None, kl_beta: float = 0.04, clip_eps: float = 0.2,
              max_len: int | None = None) -> torch.Tensor:
    """The loss whose gradient the update must follow (scalar, float64)."""
    n = logp.shape[0]
    adv, m = own_advantages(rewards, g, adv_std if algorithm == "gpg" else algorithm == "grpo")
    alpha = n / (n - m) if algorithm == "gpg" and m < n else 1.0  # GPG's correction; the baselines have none
    m_ = mask.double()
    logp = logp.double() * m_
    if algorithm == "gpg":
        per_token = adv[:, None] * logp  # [N, C]
        if aggregation == "token-mean":
            return -alpha * per_token.sum() / m_.sum()
        return -alpha * (per_token.sum(1) / m_.sum(1)).sum() / n
    ratio = torch.exp(logp - logp.detach())  # [N, C], 1 in value
    surrogate = torch.minimum(ratio * adv[:, None], ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv[:, None])
    if algorithm == "grpo":
        log_ref = (ref_logp.double() - logp) * m_  # [N, C]
        per_token = (surrogate - kl_beta * (torch.exp(log_ref) - log_ref - 1)) * m_
        return -alpha * (per_token.sum(1) / m_.sum(1)).sum() / n
    assert algorithm == "dr_grpo"
    return -alpha * (surrogate * m_).sum() / (max_len * n)
