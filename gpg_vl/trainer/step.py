"""One training step's phases: sample -> generate -> score (collect), then advantages -> update.

GPG (arXiv 2504.02546): advantages are group-mean-centred (optionally / std), the loss is the
plain policy gradient scaled by alpha = B / (B - M) over the global batch, and no reference model
or old-policy pass runs. Counts that alpha, beta_th and the token normaliser need are summed over
all ranks, so every rank takes the same decision.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from gpg_vl.algorithms import alpha_from_counts, degenerate_group_mask
from gpg_vl.processing import encode_prompts, select_rows
from gpg_vl.rollout import Rollout, generate


@dataclass
class Piece:
    """Groups kept from one draw: the draw's rollout and which of its prompts are kept."""

    rollout: Rollout
    prompts: list[int]  # kept prompt indices within the draw
    samples: list[dict]  # the draw's samples (one per prompt)
    rewards: torch.Tensor  # [num kept prompts * G]
    parts: dict  # component -> [num kept prompts * G]

    def rows(self, g: int) -> list[int]:
        return [p * g + k for p in self.prompts for k in range(g)]


def global_sum(run, values: list[float]) -> list[float]:
    """Element-wise sum over ranks (identity on one process)."""
    t = torch.tensor(values, dtype=torch.float64, device=run.accelerator.device)
    return run.accelerator.reduce(t, reduction="sum").tolist() if run.accelerator.num_processes > 1 else values


def draw(run, per_rank: int) -> tuple[Rollout, list[dict], torch.Tensor, dict]:
    """Sample prompts, generate G completions each, score them."""
    cfg, g = run.cfg, run.cfg.rollout.num_generations
    samples = [run.train_samples[i] for i in run.sampler.draw(per_rank * run.accelerator.num_processes)]
    batch = encode_prompts(run.processor, samples, **run.encode_kwargs)
    rollout = generate(run.policy, run.processor, batch, max_new_tokens=cfg.rollout.max_new_tokens,
                       temperature=cfg.rollout.temperature, top_p=cfg.rollout.top_p, num_generations=g)
    per_row = [s for s in samples for _ in range(g)]
    rewards, parts = run.reward_model.score([""] * len(per_row), rollout.texts, per_row)
    return rollout, samples, rewards, parts


def collect(run) -> tuple[list[Piece], int]:
    """Draw prompts until beta_th of the batch lies in non-zero-variance groups (or max_draws).

    Valid groups from every draw are kept first, then degenerate ones fill the batch, so the
    batch size stays ``prompts_per_step``. Without beta_th this is a single draw.
    """
    cfg, g = run.cfg, run.cfg.rollout.num_generations
    per_rank = cfg.train.prompts_per_step // run.accelerator.num_processes
    beta_th = cfg.algorithm.beta_th
    draws = []
    for n in range(1, (cfg.algorithm.max_draws if beta_th else 1) + 1):
        rollout, samples, rewards, parts = draw(run, per_rank)
        valid = (~degenerate_group_mask(rewards, g)).tolist()
        draws.append((rollout, samples, rewards, parts, valid))
        ranked = sorted(((not v, d, p) for d, (*_, vs) in enumerate(draws) for p, v in enumerate(vs)))[:per_rank]
        n_valid, n_total = global_sum(run, [sum(not r[0] for r in ranked), len(ranked)])
        if beta_th is None or n_valid / n_total >= beta_th:
            break
    pieces = []
    for d, (rollout, samples, rewards, parts, _) in enumerate(draws):
        kept = sorted(p for inv, dd, p in ranked if dd == d)
        if kept:
            rows = torch.tensor([p * g + k for p in kept for k in range(g)])
            pieces.append(Piece(rollout, kept, samples, rewards[rows], {k: v[rows] for k, v in parts.items()}))
    return pieces, n


def accepted(fn, kwargs: dict) -> dict:
    """The subset of ``kwargs`` that ``fn`` takes as keywords (estimators differ in options)."""
    import inspect

    params = inspect.signature(fn).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def loss_hparams(algo, max_len: int) -> dict:
    """Every loss hyperparameter the config owns; each registered loss takes the ones it names."""
    return {"aggregation": algo.aggregation, "kl_beta": algo.kl_beta, "clip_eps_low": algo.clip_eps,
            "clip_eps_high": algo.clip_eps, "max_completion_length": max_len}


def micro_batches(rows: list[int], size: int) -> list[list[int]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def update(run, pieces: list[Piece]) -> dict:
    """Advantages, alpha, and one optimizer step over every kept completion."""
    cfg, g, acc = run.cfg, run.cfg.rollout.num_generations, run.accelerator
    rewards = torch.cat([p.rewards for p in pieces])  # [N]
    adv_kwargs = accepted(run.advantage_fn, {"scale": cfg.algorithm.adv_scale})
    advantages = [run.advantage_fn(p.rewards, g, **adv_kwargs) for p in pieces]  # per piece [n_i]
    masks = [p.rollout.completion_mask[p.rows(g)] for p in pieces]
    n_deg = sum(degenerate_group_mask(p.rewards, g).sum().item() * g for p in pieces)
    n_all, n_deg, n_tokens = global_sum(run, [len(rewards), n_deg, sum(m.sum().item() for m in masks)])
    alpha = alpha_from_counts(int(n_all), int(n_deg)) if cfg.algorithm.use_alpha else 1.0
    stats = {"alpha": alpha, "valid_fraction": 1.0 - n_deg / n_all, "loss": 0.0}
    if n_deg == n_all and not run.policy_loss.requires_reference:
        run.counters["skipped_steps"] += 1  # every group degenerate: no gradient, no step
        return {**stats, "grad_norm": 0.0, "skipped": 1}
    hparams = {k: v for k, v in loss_hparams(cfg.algorithm, cfg.rollout.max_new_tokens).items() if k in run.policy_loss.hparam_names}
    work = []
    for piece, adv in zip(pieces, advantages):
        rows = piece.rows(g)
        # Without a KL term a zero-advantage row has zero gradient: skip its forward entirely.
        live = [i for i, r in enumerate(rows) if adv[i] != 0 or run.policy_loss.requires_reference]
        work += [(piece, [rows[i] for i in mb], adv[mb]) for mb in micro_batches(live, cfg.train.micro_batch_size)]
    for k, (piece, rows, adv) in enumerate(work):
        ro = piece.rollout
        prompts, local = ro.prompt_index[rows].unique(return_inverse=True)  # each prompt prefilled once
        prompt = select_rows(ro.prompt, prompts.tolist(), run.policy.config.image_token_id)
        ids, mask = ro.completion_ids[rows], ro.completion_mask[rows]
        sync = k == len(work) - 1
        with acc.no_sync(run.logprob_model) if not sync and acc.num_processes > 1 else _null():
            logprobs = run.logprob_model(prompt, local, ids, mask)  # [n, C]
            extra = _baseline_inputs(run, prompt, local, ids, mask, logprobs)
            loss, _ = run.policy_loss(logprobs, adv.to(logprobs.device), mask, alpha=alpha,
                                      num_tokens=n_tokens, num_sequences=n_all, **extra, **hparams)
            acc.backward(loss * acc.num_processes)  # DDP averages over ranks; the loss is a global sum
        stats["loss"] += loss.item()
    return {**stats, **_optimizer_step(run)}


def _baseline_inputs(run, prompt, rows, ids, mask, logprobs) -> dict:
    """Old-policy and reference log-probs, only for the GRPO / Dr.GRPO baselines."""
    extra = {}
    if run.policy_loss.requires_old_logprobs:  # one update per rollout: old policy = current, detached
        extra["old_logprobs"] = logprobs.detach()
    if run.policy_loss.requires_reference:
        from gpg_vl.models.forward import grouped_completion_logprobs
        with torch.no_grad():
            extra["ref_logprobs"] = grouped_completion_logprobs(run.reference, prompt, rows, ids, mask)
    return extra


def _optimizer_step(run) -> dict:
    """Clip, step and schedule; a non-finite gradient skips the step with a count."""
    cfg, acc = run.cfg, run.accelerator
    params = [p for p in run.logprob_model.parameters() if p.requires_grad]
    max_norm = cfg.train.max_grad_norm if cfg.train.max_grad_norm > 0 else float("inf")
    grad_norm = float(acc.clip_grad_norm_(params, max_norm))
    if not math.isfinite(grad_norm):
        run.counters["nonfinite_steps"] += 1
        run.optimizer.zero_grad(set_to_none=True)
        return {"grad_norm": grad_norm, "skipped": 1}
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return {"grad_norm": grad_norm, "skipped": 0}


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def step_metrics(run, pieces: list[Piece], draws: int, stats: dict, t_gen: float, t_all: float) -> dict:
    """The per-step log: rewards (total and per component), lengths, timings, counters."""
    from gpg_vl.verifiers import warning_counts

    g = run.cfg.rollout.num_generations
    rewards = torch.cat([p.rewards for p in pieces])
    lengths = torch.cat([p.rollout.completion_mask[p.rows(g)].sum(1).float() for p in pieces])
    trunc = torch.cat([p.rollout.truncated[p.rows(g)].float() for p in pieces])
    out = {"reward": rewards.mean().item(), "completion_len": lengths.mean().item(),
           "truncated_fraction": trunc.mean().item(), "draws": draws, **stats,
           "lr": run.scheduler.get_last_lr()[0], "gen_seconds": t_gen, "step_seconds": t_all,
           "update_seconds": t_all - t_gen, **run.counters}
    for name in pieces[0].parts:
        vals = torch.cat([p.parts[name] for p in pieces])
        ok = ~torch.isnan(vals)
        out[f"reward/{name}"] = vals[ok].mean().item() if ok.any() else float("nan")
    out.update({f"verifier_warnings/{k}": v for k, v in warning_counts().items()})
    return out


def train_step(run) -> dict:
    """sample -> generate -> score -> advantages -> update, timed."""
    t0 = time.perf_counter()
    pieces, draws = collect(run)
    t_gen = time.perf_counter() - t0
    stats = update(run, pieces)
    return step_metrics(run, pieces, draws, stats, t_gen, time.perf_counter() - t0)
