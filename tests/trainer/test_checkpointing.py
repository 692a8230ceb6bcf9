"""``model.gradient_checkpointing`` on the update's path: the layers are really recomputed in
backward (in whatever mode the policy was left), fewer activations are kept, and training
follows the run without checkpointing. (The gradient itself, against an independent computation,
is test_gradient_equivalence's.)"""
from __future__ import annotations

import pytest
import torch

from gpg_vl.config import Config, load_config
from gpg_vl.models.forward import base_and_head
from gpg_vl.processing import encode_prompts
from gpg_vl.trainer.setup import build_run

G, C = 3, 6


def config(tiny_dirs, synthetic_data, tmp_path, *overrides: str) -> Config:
    return load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={synthetic_data['train']}", "data.limit=3", f"rollout.num_generations={G}",
        f"rollout.max_new_tokens={C}", "rewards=[{name: format}]", "warmup.steps=0", "train.prompts_per_step=3",
        "train.steps=2", "train.lr=1e-3", "train.tensorboard=false", f"train.output_dir={tmp_path / 'run'}",
        *overrides])


def update_inputs(run) -> tuple:
    batch = encode_prompts(run.model.processor, run.data.train_samples[:3], **run.data.encode_kwargs)
    ids = torch.randint(20, 200, (3 * G, C), generator=torch.Generator().manual_seed(0))
    return batch, torch.arange(3).repeat_interleave(G), ids, torch.ones_like(ids)


def forward_backward(run, inputs) -> tuple[int, int]:
    """(bytes autograd keeps for backward outside checkpointed regions, inner-layer calls in backward)."""
    kept, calls, phase = [0], [0], ["forward"]

    def pack(t):
        kept[0] += t.numel() * t.element_size()
        return t

    q_proj = base_and_head(run.model.policy)[0].language_model.layers[0].self_attn.q_proj
    hook = q_proj.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + (phase[0] == "backward")))
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = run.model.logprob_model(*inputs)  # [N, C]
        phase[0] = "backward"
        out.sum().backward()
    finally:
        hook.remove()
    return kept[0], calls[0]


@pytest.mark.parametrize("train_mode", [False, True])
def test_checkpointing_recomputes_the_layers_and_keeps_fewer_activations(train_mode, tiny_dirs, synthetic_data,
                                                                         tmp_path):
    results = {}
    for on in (False, True):
        run = build_run(config(tiny_dirs, synthetic_data, tmp_path,
                               f"model.gradient_checkpointing={str(on).lower()}"))
        run.model.policy.train(train_mode)  # sampling leaves eval mode; a warm-up or a caller, train mode
        results[on] = forward_backward(run, update_inputs(run))
    (kept_off, calls_off), (kept_on, calls_on) = results[False], results[True]
    print(f"train_mode={train_mode}: kept {kept_off / 2**20:.1f} MiB without, {kept_on / 2**20:.1f} MiB with; "
          f"layer calls in backward {calls_off} / {calls_on}")
    assert calls_off == 0
    assert calls_on == 2  # layer 0 recomputed for the prefill and for the completion tokens
    assert kept_on < 0.5 * kept_off


def text_hash_reward(prompts, completions, **columns):
    """Varies with the completion text, so groups are not degenerate and every RL step updates."""
    return [float(sum(map(ord, c)) % 5) for c in completions]


@pytest.mark.slow
def test_runs_with_and_without_checkpointing_reach_the_same_weights(tiny_dirs, synthetic_data, tmp_path,
                                                                    monkeypatch):
    """As a new user runs it: a warm-up (which trains in train mode), then 2 GPG steps."""
    from gpg_vl.trainer.loop import start
    from gpg_vl.trainer.step import train_step
    from gpg_vl.verifiers import VERIFIERS

    monkeypatch.setitem(VERIFIERS, "text_hash", text_hash_reward)
    weights, moved = {}, {}
    for on in (False, True):
        run = build_run(config(tiny_dirs, synthetic_data, tmp_path / str(on), "warmup.steps=2",
                               "warmup.batch_size=2", "rewards=[{name: text_hash}]", "train.max_grad_norm=0",
                               f"model.gradient_checkpointing={str(on).lower()}"))
        start(run, lambda *_: None, None)
        warmed = {n: p.detach().clone() for n, p in run.model.policy.named_parameters()}
        assert all(train_step(run)["skipped"] == 0 for _ in range(2))
        weights[on] = {n: p.detach().clone() for n, p in run.model.policy.named_parameters()}
        moved[on] = max((weights[on][n] - warmed[n]).abs().max().item() for n in warmed)
    apart = max((weights[False][n] - weights[True][n]).abs().max().item() for n in weights[False])
    print(f"largest RL weight change {moved[False]:.2e}; largest difference between the runs {apart:.2e}")
    assert moved[False] > 1e-3
    assert apart < 1e-2 * moved[False]
