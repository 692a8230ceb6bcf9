"""A bfloat16 policy (model.dtype=bfloat16 or auto on a GPU) without DeepSpeed trains on float32
master weights: its weights follow the float32 run's, rounded, instead of losing every step that
is smaller than a bfloat16 ulp (AdamW's steps at the recipes' learning rates)."""
from __future__ import annotations

import pytest
import torch

from gpg_vl.config import Config, load_config
from gpg_vl.trainer.setup import build_run

pytestmark = pytest.mark.slow  # four tiny runs built: ~30 s
STEPS, LR = 30, 1e-5


def run_for(tiny_dirs, synthetic_data, tmp_path, dtype: str):
    return build_run(load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", f"model.dtype={dtype}", f"data.train={synthetic_data['train']}",
        "data.limit=3", "rewards=[{name: format}]", "warmup.steps=0", "train.steps=1", f"train.lr={LR}",
        "train.tensorboard=false", f"train.output_dir={tmp_path / dtype}"]))


def ulp(w: torch.Tensor) -> torch.Tensor:
    """The spacing of bfloat16 numbers at |w| (8 significant bits)."""
    exponent = torch.floor(torch.log2(w.abs().clamp_min(2.0 ** -126)))
    return torch.exp2(exponent - 7)


def take_steps(run, grads: dict) -> None:
    """STEPS optimizer steps of the run's own optimizer, each on the same gradients."""
    for _ in range(STEPS):
        for n, p in run.model.policy.named_parameters():
            p.grad = grads[n].to(p.dtype)
        run.optim.optimizer.step()
        run.optim.optimizer.zero_grad(set_to_none=True)


def test_bf16_run_follows_the_fp32_run(tiny_dirs, synthetic_data, tmp_path):
    low = run_for(tiny_dirs, synthetic_data, tmp_path, "bfloat16")
    full = run_for(tiny_dirs, synthetic_data, tmp_path, "float32")
    assert next(low.model.policy.parameters()).dtype == torch.bfloat16
    with torch.no_grad():  # both start from the same (bf16-representable) weights
        for p, q in zip(full.model.policy.parameters(), low.model.policy.parameters(), strict=True):
            p.copy_(q.float())
    start = {n: p.detach().float().clone() for n, p in low.model.policy.named_parameters()}
    gen = torch.Generator().manual_seed(0)
    grads = {n: torch.randn(p.shape, generator=gen) for n, p in full.model.policy.named_parameters()}
    take_steps(low, grads)
    take_steps(full, grads)
    changed_low = changed_full = total = 0
    for (n, p), q in zip(low.model.policy.named_parameters(), full.model.policy.parameters(), strict=True):
        w_low, w_full = p.detach().float(), q.detach()
        # The bf16 weight is the fp32 run's weight rounded (within one ulp: the fp32 arithmetic of
        # the two runs may round a weight lying near a midpoint either way).
        off = (w_low - w_full).abs() > ulp(w_full)
        assert not off.any(), f"{n}: {off.float().mean():.1%} of the bf16 weights lie over an ulp from the fp32 run's"
        changed_low += (w_low != start[n]).sum().item()
        changed_full += ((w_full - start[n]).abs() >= ulp(w_full)).sum().item()  # moved a whole ulp
        total += p.numel()
    print(f"weights changed: bf16 {changed_low / total:.1%}; fp32 moved >= 1 bf16 ulp {changed_full / total:.1%}")
    assert changed_full > 0.2 * total  # the comparison covers many weights
    assert changed_low >= changed_full


def test_master_weights_are_saved_with_the_optimizer(tiny_dirs, synthetic_data, tmp_path):
    """A resumed run continues from the float32 masters, not from the rounded weights."""
    run = run_for(tiny_dirs, synthetic_data, tmp_path, "bfloat16")
    gen = torch.Generator().manual_seed(1)
    take_steps(run, {n: torch.randn(p.shape, generator=gen) for n, p in run.model.policy.named_parameters()})
    state = run.optim.optimizer.state_dict()
    other = run_for(tiny_dirs, synthetic_data, tmp_path / "resumed", "bfloat16")
    other.optim.optimizer.load_state_dict(state)
    inner = getattr(other.optim.optimizer, "optimizer", other.optim.optimizer)
    params = [p for group in inner.param_groups for p in group["params"]]
    masters = state["masters"]
    assert len(masters) == len(params)
    for p, m in zip(params, masters, strict=True):
        assert m.dtype == torch.float32
        assert torch.equal(inner.masters[p], m)
        assert torch.equal(p.detach(), m.to(torch.bfloat16))  # the weights are the rounded masters
    assert any(not torch.equal(m, m.to(torch.bfloat16).float()) for m in masters)  # below bf16 resolution


def test_weights_written_before_the_first_step_are_kept(tiny_dirs, synthetic_data, tmp_path):
    """The run's optimizer is built before the warm-up, which trains with its own: the first RL
    step continues from the warmed-up weights, not from those the optimizer was built with."""
    run = run_for(tiny_dirs, synthetic_data, tmp_path, "bfloat16")
    with torch.no_grad():
        for p in run.model.policy.parameters():
            p.add_(0.25)  # what a warm-up might do
    written = {n: p.detach().clone() for n, p in run.model.policy.named_parameters()}
    take_steps(run, {n: torch.zeros(p.shape) for n, p in run.model.policy.named_parameters()})  # Adam moves nothing
    for n, p in run.model.policy.named_parameters():
        assert torch.equal(p.detach(), written[n]), n
