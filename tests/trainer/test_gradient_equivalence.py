"""Every training path follows the objective's exact gradient.

The update (``gpg_vl.trainer.step.update``, with the run ``build_run`` makes from a config) runs on
a batch whose completions and rewards the test chose; the gradient it hands the optimizer is
captured by an optimizer step pre-hook and compared, parameter by parameter, with the gradient of
the objective computed from scratch (``reference_objective``: a plain full forward per repeated
row, own masks, group means and alpha, autograd) on a copy of the same weights.

The cases are a covering design over the paths users take, not the full product: every level of
every factor appears, and the pairs that interact are crossed: checkpointing x policy mode
(transformers' own checkpointing drops the prompt cache in train mode), checkpointing x LoRA,
checkpointing x warm-up (which leaves train mode and its last gradient), micro-batches x
aggregation (global normalisers across micro-batches), both model families with and without
checkpointing and LoRA, and each algorithm across micro-batch sizes. The 2-process part (DDP,
micro-batches crossing boundaries on each rank) is at the end, marked ``multiprocess``.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from reference_objective import objective, own_completion_mask, plain_logprobs

G, C = 3, 6
# Group 0 varies, group 1 is degenerate (M = 3, alpha = 9 / 6), group 2 varies.
REWARDS = [1.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.25, 1.0, 0.0]
# The baselines' batch: every group varies, so no alpha question arises (GPG's alpha is GPG's).
BASELINE_REWARDS = [1.0, 0.0, 0.5, 0.0, 0.5, 0.5, 0.25, 1.0, 0.0]
# Where each row's end token goes (None: truncated at C): lengths 2..6, a 1-token row.
ENDS = [1, 5, None, 3, 0, 2, None, 4, 1]
REL_TOL = 1e-4


@dataclass(frozen=True)
class Case:
    algorithm: str = "gpg"
    family: str = "qwen2_vl"
    checkpointing: bool = False
    train_mode: bool = False  # the policy is left in train mode before the update
    lora: bool = False
    warmup: bool = False  # two supervised warm-up steps first (train mode, an optimizer of its own)
    aggregation: str = "token-mean"
    micro: int = 100  # train.micro_batch_size (100: the whole batch in one pass)
    adv_std: bool = False
    temperature: float = 1.0

    def overrides(self) -> list[str]:
        # Algorithm options only where GPG takes them (the baselines take no aggregation or F_norm).
        out = [f"algorithm.name={self.algorithm}", f"model.gradient_checkpointing={str(self.checkpointing).lower()}",
               f"train.micro_batch_size={self.micro}", f"rollout.temperature={self.temperature}"]
        if self.algorithm == "gpg":
            out += [f"algorithm.aggregation={self.aggregation}", f"algorithm.adv_scale={'std' if self.adv_std else 'none'}"]
        if self.lora:  # dropout configured: the update must still evaluate the sampling policy
            # alpha = r: scale 1 (the default 128 / 4 = 32 on scrambled weights saturates attention)
            out += ["model.lora.enabled=true", "model.lora.r=4", "model.lora.alpha=4", "model.lora.dropout=0.3"]
        return out


CASES = {
    "plain": Case(micro=3),
    "ckpt-train": Case(checkpointing=True, train_mode=True, micro=3),
    "ckpt-lora-seq-mb1": Case(checkpointing=True, lora=True, aggregation="seq-mean", micro=1),
    "ckpt-train-lora-warmup": Case(checkpointing=True, train_mode=True, lora=True, warmup=True),
    "warmup-train-seq": Case(train_mode=True, warmup=True, aggregation="seq-mean"),
    "q25-ckpt-warmup-seq-mb3": Case(family="qwen2_5_vl", checkpointing=True, warmup=True,
                                    aggregation="seq-mean", micro=3, temperature=0.7),
    "q25-train-lora-mb1-std": Case(family="qwen2_5_vl", train_mode=True, lora=True, micro=1, adv_std=True),
    "q25-ckpt-train-mb1": Case(family="qwen2_5_vl", checkpointing=True, train_mode=True, micro=1),
    "grpo-ckpt-train-mb3": Case(algorithm="grpo", checkpointing=True, train_mode=True, micro=3),
    "grpo-q25-lora-warmup": Case(algorithm="grpo", family="qwen2_5_vl", lora=True, warmup=True),
    "drgrpo-ckpt-lora-mb1": Case(algorithm="dr_grpo", checkpointing=True, lora=True, micro=1, temperature=0.7),
    "drgrpo-q25-ckpt-train-warmup": Case(algorithm="dr_grpo", family="qwen2_5_vl", checkpointing=True,
                                         train_mode=True, warmup=True),
}


def rewards_for(case: Case) -> list[float]:
    return REWARDS if case.algorithm == "gpg" else BASELINE_REWARDS


def make_config(tiny_dirs, synthetic_data, tmp_path, case: Case, *extra: str):
    from gpg_vl.config import Config, load_config

    return load_config(Config, None, [
        f"model.path={tiny_dirs[case.family]}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={synthetic_data['train']}", "data.limit=3", f"rollout.num_generations={G}",
        f"rollout.max_new_tokens={C}", "rewards=[{name: format}]", "warmup.steps=0",
        "train.prompts_per_step=3", "train.steps=1", "train.lr=1e-3", "train.max_grad_norm=0",
        "train.tensorboard=false", f"train.output_dir={tmp_path / 'run'}", *case.overrides(), *extra])


def completions(run, seed: int = 0) -> tuple[torch.Tensor, list[int]]:
    """Token ids [N, C]: random non-vision tokens, an end token where ENDS says, junk after it."""
    from gpg_vl.rollout import end_token_ids, suppressed_token_ids

    tok = run.model.processor.tokenizer
    end_ids = end_token_ids(run.model.policy, tok)
    allowed = torch.tensor([i for i in range(len(tok)) if i not in set(end_ids + suppressed_token_ids(tok))])
    gen = torch.Generator().manual_seed(seed)
    ids = allowed[torch.randint(len(allowed), (len(ENDS), C), generator=gen)]
    for row, end in enumerate(ENDS):
        if end is not None:
            ids[row, end] = end_ids[0]
    return ids, end_ids


def pieces_for(run, samples: list[dict], rewards: list[float], ids: torch.Tensor, end_ids: list[int]):
    """The update's input for these prompts: one draw whose groups are all kept."""
    from gpg_vl.processing import encode_prompts
    from gpg_vl.rollout import Rollout, completion_mask
    from gpg_vl.trainer.step import Piece

    batch = encode_prompts(run.model.processor, samples, **run.data.encode_kwargs)
    mask, truncated = completion_mask(ids, end_ids)
    rollout = Rollout(prompt=dict(batch), prompt_index=torch.arange(len(samples)).repeat_interleave(G),
                      completion_ids=ids, completion_mask=mask, texts=[""] * len(ids), truncated=truncated)
    return [Piece(rollout, list(range(len(samples))), torch.tensor(rewards), {})]


def captured_update(run, pieces) -> tuple[dict, dict]:
    """Run the update; (stats, {parameter name: the gradient handed to the optimizer})."""
    from gpg_vl.trainer.step import update

    names = {id(p): n for n, p in run.model.policy.named_parameters()}
    grads = {}

    def capture(optimizer, args, kwargs):
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    grads[names[id(p)]] = p.grad.detach().double().clone()

    hook = getattr(run.optim.optimizer, "optimizer", run.optim.optimizer).register_step_pre_hook(capture)
    try:
        stats = update(run, pieces)
    finally:
        hook.remove()
    return stats, grads


def reference_copy(run):
    """A fresh, never-checkpointed model holding the run policy's current weights (eval mode)."""
    from gpg_vl.models import load_policy
    from gpg_vl.trainer.setup import apply_lora

    model, _, _ = load_policy(run.cfg.model.path)
    if run.cfg.model.lora.enabled:
        model = apply_lora(model, run.cfg.model.lora, run.model.family)
    model.load_state_dict(run.model.policy.state_dict())
    return model.eval()


def reference_grads(run, samples, rewards, ids, end_ids, case: Case) -> dict:
    """The objective's gradient, computed from scratch on a copy of the policy."""
    from gpg_vl.processing import encode_prompts
    from gpg_vl.rollout import suppressed_token_ids

    model = reference_copy(run)
    banned = suppressed_token_ids(run.model.processor.tokenizer)
    repeated = encode_prompts(run.model.processor, [s for s in samples for _ in range(G)], **run.data.encode_kwargs)
    mask = own_completion_mask(ids, end_ids)
    ref_logp = None
    if case.algorithm == "grpo":
        with torch.no_grad():
            ref_logp = plain_logprobs(run.model.reference, repeated, ids, case.temperature, banned)
    logp = plain_logprobs(model, repeated, ids, case.temperature, banned)
    loss = objective(case.algorithm, logp, mask, rewards, G, aggregation=case.aggregation, adv_std=case.adv_std,
                     ref_logp=ref_logp, max_len=C)
    loss.backward()
    return {n: p.grad.double() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


def warm_up(run) -> None:
    from gpg_vl.config.schema import WarmupConfig
    from gpg_vl.trainer.warmup import run_warmup

    run_warmup(run.model.policy, run.model.processor, run.data.train_samples, WarmupConfig(steps=2, batch_size=2),
               encode_kwargs=run.data.encode_kwargs, box_frame=run.model.family.box_frame, seed=0, log=lambda *_: None)


def assert_same_gradients(grads: dict, ref: dict, trainable: set[str]) -> float:
    """Every trainable parameter's gradient within REL_TOL of the reference; the worst ratio."""
    assert set(ref) == trainable, "the reference does not reach every trainable parameter"
    assert set(grads) == trainable, f"no gradient for {sorted(trainable - set(grads))[:5]}"
    total = sum(g.square().sum() for g in ref.values()).sqrt()
    assert total > 0
    worst = 0.0
    for name in sorted(trainable):
        # Relative to the parameter's own gradient, with a floor of 1e-3 of the whole gradient
        # for the few parameters whose gradient is nearly zero (float32 rounding dominates there).
        scale = max(ref[name].norm().item(), 1e-3 * total.item())
        err = (grads[name] - ref[name]).norm().item() / scale
        worst = max(worst, err)
        assert err <= REL_TOL, f"{name}: relative gradient error {err:.2e}"
    return worst


@pytest.mark.parametrize("name", sorted(CASES))
def test_update_gradient_equals_the_objective_s(name, tiny_dirs, synthetic_data, tmp_path, scrambler):
    from gpg_vl.trainer.setup import build_run, frozen_reference

    case = CASES[name]
    run = build_run(make_config(tiny_dirs, synthetic_data, tmp_path, case))
    scrambler(run.model.policy, seed=1)  # outputs that depend visibly on every input (see conftest)
    if case.warmup:
        warm_up(run)
    run.model.reference = frozen_reference(run)  # GRPO: the policy RL starts from (None for GPG)
    run.model.policy.train(case.train_mode)
    samples, rewards = run.data.train_samples[:3], rewards_for(case)
    ids, end_ids = completions(run)
    ref = reference_grads(run, samples, rewards, ids, end_ids, case)
    stats, grads = captured_update(run, pieces_for(run, samples, rewards, ids, end_ids))
    assert stats["skipped"] == 0
    if case.algorithm == "gpg":
        assert stats["alpha"] == pytest.approx(9 / 6)
    trainable = {n for n, p in run.model.policy.named_parameters() if p.requires_grad}
    worst = assert_same_gradients(grads, ref, trainable)
    print(f"{name}: worst relative gradient error {worst:.1e} over {len(trainable)} parameters")


# --- 2 processes ---------------------------------------------------------------------------

RANK_SCRIPT = Path(__file__).with_name("gradient_rank.py")


# The 2-process cases: checkpointing in train mode; and the path a LoRA recipe takes after its
# warm-up (checkpointing, LoRA, the policy left in train mode, the warm-up's last gradient), one
# row per micro-batch with per-sequence normalisers summed across ranks.
TWO_PROCESS = {"ckpt-train": CASES["ckpt-train"],
               "ckpt-train-lora-warmup-seq-mb1": Case(checkpointing=True, train_mode=True, lora=True, warmup=True,
                                                      aggregation="seq-mean", micro=1)}


@pytest.mark.slow
@pytest.mark.multiprocess
@pytest.mark.parametrize("name", sorted(TWO_PROCESS))
def test_two_processes_give_the_objective_s_gradient(name, tiny_dirs, synthetic_data, tmp_path, scrambler):
    """DDP over 2 ranks (gloo): rank r updates on groups it owns, in micro-batches that cross
    group boundaries; the all-reduced gradient is the whole batch's objective gradient."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distributed"))
    from launch_helpers import BIN, pick_free_port, run_bounded

    case = TWO_PROCESS[name]
    spec = {"case": case.__dict__, "overrides": case.overrides(), "out": str(tmp_path / "grads"),
            "config": [str(tiny_dirs[case.family]), str(synthetic_data["train"]), str(tmp_path)]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    run_bounded([str(BIN / "accelerate"), "launch", "--num_processes", "2", "--num_machines", "1",
                 "--mixed_precision", "no", "--dynamo_backend", "no", "--multi_gpu",
                 "--main_process_port", str(pick_free_port()), str(RANK_SCRIPT), str(tmp_path / "spec.json")],
                timeout=300)
    grads = torch.load(tmp_path / "grads" / "rank0.pt")
    other = torch.load(tmp_path / "grads" / "rank1.pt")
    for n in grads:  # both ranks hand the optimizer the same (all-reduced) gradient
        torch.testing.assert_close(grads[n], other[n], rtol=1e-6, atol=1e-9)
    state = torch.load(tmp_path / "grads" / "start.pt")  # the weights the update started from
    from gpg_vl.trainer.setup import build_run

    run = build_run(make_config(tiny_dirs, synthetic_data, tmp_path / "ref", case))
    run.model.policy.load_state_dict(state)
    ids, end_ids = completions(run)
    ref = reference_grads(run, run.data.train_samples[:3], rewards_for(case), ids, end_ids, case)
    trainable = {n for n, p in run.model.policy.named_parameters() if p.requires_grad}
    print(f"{name} x 2 processes: worst relative error {assert_same_gradients(grads, ref, trainable):.1e}")
