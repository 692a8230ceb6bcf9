"""One training step's phases: sample -> generate -> score (collect), then advantages -> update.

GPG (arXiv 2504.02546): advantages are group-mean-centred (optionally / std), the loss is the
plain policy gradient scaled by alpha = B / (B - M) over the global batch, and no reference model
or old-policy pass runs. Counts that alpha, beta_th and the token normaliser need are summed over
all ranks, so every rank takes the same decision.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import torch

from gpg_vl.algorithms import alpha_from_counts, degenerate_group_mask
from gpg_vl.processing import encode_prompts, render_prompt, select_rows
from gpg_vl.rollout import Rollout
from gpg_vl.trainer.collectives import global_max, global_sum
from gpg_vl.trainer.engine import sample, sampler_correction


@dataclass
class Piece:
    """Groups kept from one draw: the draw's rollout and which of its prompts are kept."""

    rollout: Rollout
    prompts: list[int]  # kept prompt indices within the draw
    rewards: torch.Tensor  # [num kept prompts * G]
    parts: dict  # component -> [num kept prompts * G]

    def rows(self, g: int) -> list[int]:
        return group_rows(self.prompts, g)


def group_rows(prompts: list[int], g: int) -> list[int]:
    """Rollout rows of the given prompts (prompt p's samples are rows p*G .. p*G+G-1)."""
    return [p * g + k for p in prompts for k in range(g)]


def draw(run, per_rank: int) -> tuple[Rollout, torch.Tensor, dict]:
    """Sample prompts, generate G completions each, score them."""
    cfg, g = run.cfg, run.cfg.rollout.num_generations
    positions = run.sampler.draw_positions(per_rank * run.accelerator.num_processes)
    samples = [run.train_samples[run.sampler.index(p)] for p in positions]
    batch = encode_prompts(run.processor, samples, **run.encode_kwargs)
    # One generator per prompt, seeded by its stream position: the same prompt draws the same
    # samples on any rank and in any batch, so 1 and N processes follow the same trajectory.
    device = run.accelerator.device
    generators = [torch.Generator(device=device).manual_seed(cfg.train.seed * 1_000_003 + p) for p in positions]
    rollout = sample(run, batch, samples, generators)  # rollout.engine: hf or vllm
    per_row = [s for s in samples for _ in range(g)]
    prompts = [render_prompt(s, run.encode_kwargs["prompt_template"]) for s in per_row]
    rewards, parts = run.reward_model.score(prompts, rollout.texts, per_row)
    return rollout, rewards, parts


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
        rollout, rewards, parts = draw(run, per_rank)
        valid = (~degenerate_group_mask(rewards, g)).tolist()
        draws.append((rollout, rewards, parts, valid))
        ranked = sorted(((not v, d, p) for d, (*_, vs) in enumerate(draws) for p, v in enumerate(vs)))[:per_rank]
        n_valid, n_total = global_sum(run, [sum(not r[0] for r in ranked), len(ranked)])
        if beta_th is None or n_valid / n_total >= beta_th:
            break
    pieces = []
    for d, (rollout, rewards, parts, _) in enumerate(draws):
        kept = sorted(p for inv, dd, p in ranked if dd == d)
        if kept:
            rows = torch.tensor(group_rows(kept, g))
            pieces.append(Piece(rollout, kept, rewards[rows], {k: v[rows] for k, v in parts.items()}))
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


def micro_batches(rows: list[int], size: int, lengths: list[int] | None = None) -> list[list[int]]:
    """Split ``rows`` (kept in order) into the update's micro-batches.

    Without ``lengths``: ``size`` rows each. With ``lengths`` (each row's completion tokens) the
    split is by token count (issue 6): a micro-batch takes rows while rows x its longest row stays
    within ``size`` x the longest row overall, the padded tokens of a ``size``-row batch. Short
    completions then share fewer, fuller forwards, and no micro-batch holds more padded tokens
    than a fixed ``size``-row one. Order is kept, so a group's rows stay together and its prompt
    is prefilled once.
    """
    if lengths is None:
        return [rows[i:i + size] for i in range(0, len(rows), size)]
    budget = size * max([1, *lengths])
    batches, current, longest = [], [], 0
    for row, n in zip(rows, lengths, strict=True):
        n = max(int(n), 1)
        if current and (len(current) + 1) * max(longest, n) > budget:
            batches.append(current)
            current, longest = [], 0
        current.append(row)
        longest = max(longest, n)
    return batches + [current] if current else batches


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
        lengths = piece.rollout.completion_mask[rows].sum(1).tolist()  # token-count micro-batches (issue 6)
        work += [(piece, [rows[i] for i in mb], adv[mb])
                 for mb in micro_batches(live, cfg.train.micro_batch_size, [lengths[i] for i in live])]
    # Every rank runs the same number of forward/backward passes (ZeRO-3 gathers parameters in
    # each one, collectively): a rank with less work repeats its first micro-batch at weight 0.
    n_passes = int(global_max(run, len(work)))
    work += [(work[0][0] if work else pieces[0], (work[0][1] if work else pieces[0].rows(g)[:1]), None)] \
        * (n_passes - len(work))
    finite = True
    for k, (piece, rows, adv) in enumerate(work):
        ro = piece.rollout
        prompts, local = ro.prompt_index[rows].unique(return_inverse=True)  # each prompt prefilled once
        prompt = select_rows(ro.prompt, prompts.tolist(), run.policy.config.image_token_id)
        width = max(int(ro.completion_mask[rows].sum(1).max()), 1)  # no padding past the longest row
        ids, mask = ro.completion_ids[rows, :width], ro.completion_mask[rows, :width]
        last = k == len(work) - 1
        acc.gradient_state._set_sync_gradients(last)  # DeepSpeed steps only at the boundary
        with acc.no_sync(run.logprob_model) if not last and acc.num_processes > 1 else contextlib.nullcontext():
            logprobs = run.logprob_model(prompt, local, ids, mask)  # [n, C]
            logprobs = sampler_correction(run, ro, rows, logprobs, mask, stats)  # vllm: mismatch log, TIS
            extra = _baseline_inputs(run, prompt, local, ids, mask, logprobs)
            weight = 1.0 if adv is not None else 0.0
            adv = adv if adv is not None else torch.zeros(len(rows))
            loss, _ = run.policy_loss(logprobs, adv.to(logprobs.device), mask, alpha=alpha,
                                      num_tokens=n_tokens, num_sequences=n_all, **extra, **hparams)
            finite = finite and bool(torch.isfinite(loss))
            # DDP averages gradients over ranks while the loss is a global sum: scale by world size.
            acc.backward(torch.nan_to_num(loss, nan=0.0, posinf=0.0, neginf=0.0) * weight * acc.num_processes)
        stats["loss"] += loss.item() * weight
    acc.gradient_state._set_sync_gradients(True)
    stats["loss"] = global_sum(run, [stats["loss"]])[0]  # each rank holds its share of the global sum
    if not finite:  # a non-finite loss: the gradient is not trusted, the step is skipped
        stats["loss"] = float("nan")
        return {**stats, **_skip_nonfinite(run, float("nan"))}
    return {**stats, **_optimizer_step(run)}


def _baseline_inputs(run, prompt, rows, ids, mask, logprobs) -> dict:
    """Old-policy and reference log-probs, only for the GRPO / Dr.GRPO baselines."""
    extra = {}
    if run.policy_loss.requires_old_logprobs:  # one update per rollout: old policy = current, detached
        extra["old_logprobs"] = logprobs.detach()
    if run.policy_loss.requires_reference:
        from gpg_vl.models.forward import grouped_completion_logprobs
        with torch.no_grad():
            extra["ref_logprobs"] = grouped_completion_logprobs(run.reference, prompt, rows, ids, mask,
                                                                temperature=run.cfg.rollout.temperature)
    return extra


def _skip_nonfinite(run, grad_norm: float) -> dict:
    """Drop this step's gradient and count it (the loop stops after too many in a row)."""
    import warnings

    run.counters["nonfinite_steps"] += 1
    run.counters["consecutive_nonfinite"] += 1
    run.optimizer.zero_grad(set_to_none=True)
    if hasattr(run.logprob_model, "zero_grad"):
        run.logprob_model.zero_grad()
    warnings.warn(f"non-finite loss or gradient: step skipped "
                  f"({run.counters['consecutive_nonfinite']} in a row)", RuntimeWarning, stacklevel=2)
    return {"grad_norm": grad_norm, "skipped": 1, "nonfinite": 1}


def _optimizer_step(run) -> dict:
    """Clip, step and schedule; a non-finite gradient skips the step with a count."""
    cfg, acc = run.cfg, run.accelerator
    params = [p for p in run.logprob_model.parameters() if p.requires_grad]
    max_norm = cfg.train.max_grad_norm if cfg.train.max_grad_norm > 0 else float("inf")
    grad_norm = float(acc.clip_grad_norm_(params, max_norm))
    if not math.isfinite(grad_norm):  # a non-finite gradient: skip, count
        return _skip_nonfinite(run, grad_norm)
    run.counters["consecutive_nonfinite"] = 0
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return {"grad_norm": grad_norm, "skipped": 0}


def step_metrics(run, pieces: list[Piece], draws: int, stats: dict, t_gen: float, t_all: float) -> dict:
    """The per-step log: rewards (total and per component), lengths, timings, counters.

    Means are over the global batch: each rank's sums and counts are added over ranks first.
    """
    from gpg_vl.verifiers import warning_counts

    g = run.cfg.rollout.num_generations
    columns = {"reward": torch.cat([p.rewards for p in pieces]),
               "completion_len": torch.cat([p.rollout.completion_mask[p.rows(g)].sum(1).float() for p in pieces]),
               "truncated_fraction": torch.cat([p.rollout.truncated[p.rows(g)].float() for p in pieces])}
    columns.update({f"reward/{name}": torch.cat([p.parts[name] for p in pieces]) for name in pieces[0].parts})
    local = []
    for values in columns.values():
        ok = ~torch.isnan(values)
        local += [values[ok].sum().item(), ok.sum().item()]
    totals = global_sum(run, local)
    out = {k: totals[2 * i] / totals[2 * i + 1] if totals[2 * i + 1] else float("nan")
           for i, k in enumerate(columns)}
    out.update({"draws": draws, **stats, "lr": run.scheduler.get_last_lr()[0], "gen_seconds": t_gen,
                "step_seconds": t_all, "update_seconds": t_all - t_gen, **run.counters})
    out.update({f"verifier_warnings/{k}": v for k, v in warning_counts().items()})
    return out


def train_step(run) -> dict:
    """sample -> generate -> score -> advantages -> update, timed."""
    t0 = time.perf_counter()
    pieces, draws = collect(run)
    t_gen = time.perf_counter() - t0
    stats = update(run, pieces)
    return step_metrics(run, pieces, draws, stats, t_gen, time.perf_counter() - t0)
