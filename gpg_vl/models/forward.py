"""The policy forward that the update needs: log-probabilities of completion tokens only.

Each prompt is prefilled once and its KV cache shared by the rows (completions) of its group
(``prefill`` + ``extend``): the vision tower encodes each image once and every prompt token is
processed once, in sampling and in the loss forward alike, instead of G times (issue 6). The
gradient of the shared prefix is the sum over the group's rows, which equals the repeated
computation's (tests/models compare them).

The language-model head runs only at completion positions (a prompt of P tokens needs no
logits), in chunks of ``chunk_tokens`` rows, each recomputed in backward under activation
checkpointing, so the full [batch, length, vocab] float32 tensor is never held (with Qwen's
151,936-token vocabulary it is the largest tensor of a step).

Gradient checkpointing (``enable_checkpointing``) is gpg-vl's own, per decoder layer and vision
block, and does not depend on the module's train/eval mode: transformers' own
(``GradientCheckpointingLayer``) runs only in train mode and then drops the KV cache inside each
layer, so completion tokens would stop seeing the prompt. The update's cache is never mutated by a
forward instead (``prefix_cache`` / ``recorded_prefix``): the prompt's keys/values are recorded
once at the prefill and read, unchanged, by the completion tokens, so a layer recomputed in
backward reads exactly what its first run read (a DynamicCache would hand the recomputation a
prefix already extended by the completion tokens, or extend it a second time).
"""
from __future__ import annotations

import functools
import inspect

import torch
from torch.utils.checkpoint import checkpoint

from gpg_vl.families import family_of
from gpg_vl.models.cache import new_cache, prefix_cache, recorded_prefix


def _chunk_logprobs(hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor,
                    temperature: float = 1.0, banned: torch.Tensor | None = None) -> torch.Tensor:
    logits = head(hidden).float() / temperature  # [k, V]
    if banned is not None and banned.numel():  # sampling never draws these: renormalise without them
        logits = logits.index_fill(-1, banned.to(logits.device), float("-inf"))  # [k, V]
    return logits.gather(-1, targets[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)  # [k]


def token_logprobs(hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor,
                   chunk_tokens: int = 1024, temperature: float = 1.0,
                   banned: torch.Tensor | None = None) -> torch.Tensor:
    """log softmax(head(hidden) / temperature)[targets] for hidden [K, H], targets [K] -> [K].

    ``head`` is called as a module (not its weight read directly) so that DeepSpeed ZeRO-3's
    parameter gathering hooks run. ``temperature`` is the sampling temperature: completions are
    drawn from softmax(logits / T), so the policy whose gradient is followed is that one (as in
    TRL and verl). ``banned`` [b]: token ids sampling suppresses (the vision placeholders,
    ``rollout.suppressed_token_ids``); their logits are -inf here as there, so the log-probs are
    those of the distribution sampled from. Nucleus truncation (top_p < 1) is not reproduced
    (as in TRL and verl): the update follows the untruncated policy's gradient.
    """
    out = []
    for s in range(0, hidden.shape[0], chunk_tokens):
        h, t = hidden[s:s + chunk_tokens], targets[s:s + chunk_tokens]
        if torch.is_grad_enabled() and (h.requires_grad or any(p.requires_grad for p in head.parameters())):
            out.append(checkpoint(_chunk_logprobs, h, head, t, temperature, banned, use_reentrant=False))
        else:
            out.append(_chunk_logprobs(h, head, t, temperature, banned))
    return torch.cat(out) if out else hidden.new_zeros(0)


def base_and_head(model):
    """The multimodal trunk and the LM head of a Qwen-VL ForConditionalGeneration (or a PEFT wrap)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.model, inner.lm_head


def completion_logprobs(model, prompt: dict, completion_ids: torch.Tensor, completion_mask: torch.Tensor,
                        chunk_tokens: int = 1024) -> torch.Tensor:
    """log pi(o_t | prompt, o_<t) for every completion token: [N, C] (0 where mask is 0).

    The plain full-sequence forward over a group-repeated batch: the reference that the
    grouped path (``grouped_completion_logprobs``, used by the GPG update) is tested against;
    the supervised warm-up (one target per prompt, nothing to share) uses it too.
    ``prompt`` is a (left-padded, group-repeated) batch: input_ids / attention_mask /
    mm_token_type_ids [N, P], pixel_values, image_grid_thw. completion_ids/mask are [N, C].
    """
    n, p = prompt["input_ids"].shape
    c = completion_ids.shape[1]
    input_ids = torch.cat([prompt["input_ids"], completion_ids], dim=1)  # [N, P+C]
    attention_mask = torch.cat([prompt["attention_mask"], completion_mask.to(prompt["attention_mask"].dtype)], 1)
    mm_types = torch.cat([prompt["mm_token_type_ids"], torch.zeros_like(completion_ids,
                          dtype=prompt["mm_token_type_ids"].dtype)], dim=1)  # [N, P+C]
    trunk, head = base_and_head(model)
    out = trunk(input_ids=input_ids, attention_mask=attention_mask, mm_token_type_ids=mm_types,
                image_grid_thw=prompt.get("image_grid_thw"), use_cache=False, **vision_inputs(trunk, prompt))
    hidden = out.last_hidden_state[:, p - 1:p + c - 1]  # [N, C, H]: state before each completion token
    mask = completion_mask.bool()  # [N, C]
    picked = token_logprobs(hidden[mask], head, completion_ids[mask], chunk_tokens)  # [K]
    logprobs = torch.zeros(n, c, dtype=picked.dtype, device=picked.device)  # [N, C]
    return logprobs.masked_scatter(mask, picked)


def encode_images(trunk, prompt: dict) -> dict:
    """``prompt`` with its images encoded once: ``image_features`` (one [tokens_i, H] tensor per
    image, no gradient) in place of ``pixel_values``.

    For a frozen vision tower (``model.freeze_vision``, or LoRA without the vision tower) the
    features cannot change between sampling and the update, so the update reuses what sampling
    computed instead of running the vision tower again (issue 6).
    """
    if prompt.get("pixel_values") is None:
        return prompt
    with torch.no_grad():
        output = trunk.get_image_features(prompt["pixel_values"], prompt["image_grid_thw"], return_dict=True)
    out = {k: v for k, v in prompt.items() if k != "pixel_values"}
    out["image_features"] = family_of(trunk).split_features(output)  # one entry per image
    return out


def vision_inputs(trunk, prompt: dict) -> dict:
    """The trunk's vision keyword: encoded ``image_features`` if the prompt has them (joined back
    into the vision output the family's forward reads), else pixels."""
    if prompt.get("image_features") is not None:
        return {"mm_encoder_outputs": {"image": family_of(trunk).join_features(prompt["image_features"])}}
    return {"pixel_values": prompt.get("pixel_values")}


def prompt_positions(trunk, prompt: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """M-RoPE position ids of the prompt [3, B, P] and each row's next free position [B]."""
    positions, _ = trunk.get_rope_index(
        prompt["input_ids"], mm_token_type_ids=prompt["mm_token_type_ids"],
        image_grid_thw=prompt.get("image_grid_thw"), attention_mask=prompt["attention_mask"])
    real = prompt["attention_mask"].bool()[None].expand_as(positions)  # [3, B, P]
    next_pos = positions.masked_fill(~real, -1).amax(dim=(0, 2)) + 1  # [B]
    return positions, next_pos


@functools.cache
def _cache_keyword(trunk_class: type) -> str:
    return "cache" if "cache" in inspect.signature(trunk_class.forward).parameters else "past_key_values"


def cache_kwargs(trunk, cache) -> dict:
    """The KV-cache keyword of ``trunk.forward``: ``cache`` from transformers 5.2x on, where
    ``past_key_values`` is deprecated (removal announced for 5.40); older 5.x releases (the vLLM
    environment's) only know ``past_key_values``."""
    return {_cache_keyword(type(trunk)): cache}


def output_cache(out):
    """The KV cache a trunk forward returned (``cache``, or ``past_key_values`` before 5.2x)."""
    return out.cache if "cache" in out else out.past_key_values


def prefill(trunk, prompt: dict, cache=None):
    """Run the prompts once: (KV cache of [B, P], last hidden state [B, H], next position [B]).

    ``cache``: an empty cache to fill (default: ``new_cache``, which decoding then grows).
    """
    positions, next_pos = prompt_positions(trunk, prompt)
    cache = new_cache(trunk) if cache is None else cache
    out = trunk(input_ids=prompt["input_ids"], attention_mask=prompt["attention_mask"],
                mm_token_type_ids=prompt["mm_token_type_ids"], **vision_inputs(trunk, prompt),
                image_grid_thw=prompt.get("image_grid_thw"), position_ids=positions,
                **cache_kwargs(trunk, cache), use_cache=True)
    return output_cache(out), out.last_hidden_state[:, -1], next_pos


def extend(trunk, cache, attention_mask: torch.Tensor, tokens: torch.Tensor, start_pos: torch.Tensor):
    """Feed ``tokens`` [N, T] after the cached context; hidden states [N, T, H].

    ``attention_mask`` [N, past + T] covers the cached context and the new tokens; ``start_pos``
    [N] is the position of each row's first new token (text tokens: equal on all 3 M-RoPE axes).
    """
    n, t = tokens.shape
    pos = (start_pos[:, None] + torch.arange(t, device=tokens.device))[None].expand(3, n, t)  # [3, N, T]
    out = trunk(input_ids=tokens, attention_mask=attention_mask, position_ids=pos,
                **cache_kwargs(trunk, cache), use_cache=True)
    return out.last_hidden_state


def grouped_completion_logprobs(model, prompt: dict, rows: torch.Tensor, completion_ids: torch.Tensor,
                                completion_mask: torch.Tensor, chunk_tokens: int = 1024,
                                temperature: float = 1.0, banned: torch.Tensor | None = None) -> torch.Tensor:
    """log pi(o_t | prompt, o_<t) [N, C] with each prompt prefilled once.

    ``prompt`` holds B distinct prompts; ``rows`` [N] says which prompt each completion row
    continues (a group's G rows share one prefill and one image encoding). ``temperature`` and
    ``banned`` as in ``token_logprobs``.
    """
    trunk, head = base_and_head(model)
    recorded, last_hidden, next_pos = prefill(trunk, prompt, prefix_cache(trunk))  # [B, H], [B]
    cache = recorded_prefix(recorded, rows)  # every row reads its prompt's cached state, read-only
    first = last_hidden[rows][:, None]  # [N, 1, H]: the state that predicts completion token 0
    n, c = completion_ids.shape
    if c > 1:
        attn = torch.cat([prompt["attention_mask"][rows], completion_mask[:, :-1].to(prompt["attention_mask"].dtype)], 1)
        rest = extend(trunk, cache, attn, completion_ids[:, :-1], next_pos[rows])  # [N, C-1, H]
        hidden = torch.cat([first, rest], dim=1)  # [N, C, H]
    else:
        hidden = first
    mask = completion_mask.bool()  # [N, C]
    picked = token_logprobs(hidden[mask], head, completion_ids[mask], chunk_tokens, temperature, banned)  # [K]
    logprobs = torch.zeros(n, c, dtype=picked.dtype, device=picked.device)  # [N, C]
    return logprobs.masked_scatter(mask, picked)


def enable_checkpointing(model) -> int:
    """Recompute each decoder layer's and vision block's activations in backward; layers wrapped.

    Mode-independent (unlike transformers' own, which only acts in train mode and there drops the
    KV cache): a layer runs under non-reentrant ``torch.utils.checkpoint`` whenever gradients are
    on. Non-reentrant checkpointing follows tensors the layer reads from outside its arguments
    (the prompt's keys/values in a ``recorded_prefix`` cache) into the gradient, and it checkpoints
    ``forward``, not ``__call__``, so module hooks (DeepSpeed ZeRO-3's gathering) stay outside, as
    in transformers. Needs an update cache that no forward mutates (``recorded_prefix``).
    """
    import types

    from transformers.modeling_layers import GradientCheckpointingLayer

    wrapped = 0
    for module in model.modules():
        if isinstance(module, GradientCheckpointingLayer) and "forward" not in vars(module):
            module.forward = types.MethodType(_checkpointed_forward, module)  # the instance only
            wrapped += 1
    return wrapped


def _checkpointed_forward(self, *args, **kwargs):
    forward = type(self).forward  # the class's own forward (transformers' checkpointing stays off)
    if torch.is_grad_enabled():
        return checkpoint(forward, self, *args, use_reentrant=False, **kwargs)
    return forward(self, *args, **kwargs)


class LogprobModel(torch.nn.Module):
    """The policy behind a forward that returns completion log-probs [N, C].

    The update calls this wrapper, so DDP / DeepSpeed (which wrap the module they are given)
    see the whole computation in their forward, and gradient synchronisation stays correct.
    """

    def __init__(self, policy, temperature: float = 1.0, banned_ids: list[int] = ()):
        super().__init__()
        self.policy = policy
        self.temperature = temperature  # the sampling temperature the completions were drawn at
        self.banned_ids = list(banned_ids)  # token ids sampling suppresses (rollout.suppressed_token_ids)

    def forward(self, prompt: dict, rows: torch.Tensor, completion_ids: torch.Tensor,
                completion_mask: torch.Tensor, chunk_tokens: int = 1024) -> torch.Tensor:
        # The update evaluates the function that sampled (rollout.generate runs in eval mode): no
        # dropout, whatever mode a warm-up or a caller left the policy in. The mode is not
        # restored afterwards: checkpointed layers are recomputed in backward, after this returns,
        # and must compute what this forward computed.
        self.policy.eval()
        banned = torch.tensor(self.banned_ids, dtype=torch.long, device=completion_ids.device)
        return grouped_completion_logprobs(self.policy, prompt, rows, completion_ids, completion_mask,
                                           chunk_tokens, self.temperature, banned)
