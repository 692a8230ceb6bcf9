"""One training step, in the paper's phases:

collect (sample -> generate -> score, redrawing under beta_th) -> advantages -> plan
micro-batches -> backward -> optimizer step.

GPG (arXiv 2504.02546): advantages are group-mean-centred (optionally / std), the loss is the
plain policy gradient scaled by alpha = B / (B - M) over the global batch, and no reference model
or old-policy pass runs. The algorithm record (``gpg_vl.algorithms.registry``) supplies the
advantage function, the loss and what it needs, so GRPO / Dr.GRPO run through the same phases.
Counts that alpha, beta_th and the token normaliser need are summed over all ranks, and the
decision to skip a step is taken over all ranks, so every rank takes the same decisions.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass

import torch

from gpg_vl.algorithms import Algorithm, alpha_from_counts, degenerate_group_mask
from gpg_vl.processing import encode_prompts, render_prompt, select_rows
from gpg_vl.rollout import Rollout, suppressed_token_ids
from gpg_vl.config import Config
from gpg_vl.trainer.collectives import global_max, global_sum
from gpg_vl.trainer.plan import (
    MicroBatch,
    enough_valid,
    group_rows,
    keep_groups,
    pad_plan,
    plan_micro_batches,
)
from gpg_vl.trainer.rewards import RewardModel
from gpg_vl.trainer.setup import DataParts, ModelParts, OptimParts
from gpg_vl.trainer.row_guard import encode_guarded
from gpg_vl.trainer.rewards import completion_id_lists
from gpg_vl.trainer.engine import mismatch_summary, sample, sampler_correction


@dataclass
class Piece:
    """Groups kept from one draw: the draw's rollout and which of its prompts are kept."""

    rollout: Rollout
    prompts: list[int]  # kept prompt indices within the draw
    rewards: torch.Tensor  # [num kept prompts * G]
    parts: dict  # component -> [num kept prompts * G]

    def rows(self, g: int) -> list[int]:
        return group_rows(self.prompts, g)


@dataclass
class Advantages:
    """The advantage phase's result, with the global counts the loss normalises by."""

    per_piece: list[torch.Tensor]  # [num kept prompts * G] per piece
    alpha: float
    num_rows: int  # B over all ranks
    num_degenerate: int  # M over all ranks
    num_tokens: int  # completion tokens over all ranks


# --- collect -----------------------------------------------------------------------------------

def draw(cfg: Config, accelerator, model: ModelParts, data: DataParts, reward_model: RewardModel,
         per_rank: int, counters: dict) -> tuple[Rollout, torch.Tensor, dict]:
    """Sample prompts, generate G completions each, score them."""
    g, ro = cfg.rollout.num_generations, cfg.rollout
    positions = data.sampler.draw_positions(per_rank * accelerator.num_processes)
    samples = [data.train_samples[data.sampler.index(p)] for p in positions]
    source = getattr(data.train_samples, "source", "the data")
    batch, samples = encode_guarded(counters, source, samples,
                                    lambda rows: encode_prompts(model.processor, rows, **data.encode_kwargs))
    # One generator per prompt, seeded by its stream position: the same prompt draws the same
    # samples on any rank and in any batch, so 1 and N processes follow the same trajectory.
    device = accelerator.device
    generators = [torch.Generator(device=device).manual_seed(cfg.train.seed * 1_000_003 + p) for p in positions]
    rollout = sample(cfg, accelerator, model, data, batch, samples, generators)  # rollout.engine: hf or vllm
    per_row = [s for s in samples for _ in range(g)]
    prompts = [render_prompt(s, data.encode_kwargs["prompt_template"]) for s in per_row]
    ids = completion_id_lists(rollout.completion_ids, rollout.completion_mask)
    rewards, parts = reward_model.score(prompts, rollout.texts, per_row, completion_ids=ids)
    return rollout, rewards, parts


def collect(cfg: Config, accelerator, model: ModelParts, data: DataParts,
            reward_model: RewardModel, counters: dict) -> tuple[list[Piece], int]:
    """Draw prompts until beta_th of the batch lies in non-zero-variance groups (or max_draws).

    Valid groups from every draw are kept first, then degenerate ones fill the batch, so the
    batch size stays ``prompts_per_step`` (``keep_groups``). Without beta_th: a single draw.
    """
    g = cfg.rollout.num_generations
    per_rank = cfg.train.prompts_per_step // accelerator.num_processes
    beta_th = cfg.algorithm.beta_th
    draws, kept = [], []
    for n in range(1, (cfg.algorithm.max_draws if beta_th else 1) + 1):
        draws.append(draw(cfg, accelerator, model, data, reward_model, per_rank, counters))
        valid = [(~degenerate_group_mask(rewards, g)).tolist() for _, rewards, _ in draws]
        kept = keep_groups(valid, per_rank)
        n_valid = sum(valid[d][p] for d, ps in enumerate(kept) for p in ps)
        if enough_valid(*global_sum(accelerator, [n_valid, sum(map(len, kept))]), beta_th):
            break
    pieces = []
    for (rollout, rewards, parts), prompts in zip(draws, kept):
        if prompts:
            rows = torch.tensor(group_rows(prompts, g))
            pieces.append(Piece(rollout, prompts, rewards[rows], {k: v[rows] for k, v in parts.items()}))
    return pieces, n


# --- advantages --------------------------------------------------------------------------------

def compute_advantages(pieces: list[Piece], algorithm: Algorithm, options, g: int, accelerator) -> Advantages:
    """Each piece's advantages, and alpha = B / (B - M) over the global batch (if the options
    use it; GPG's default)."""
    per_piece = [algorithm.advantages(p.rewards, g, options) for p in pieces]  # [n_i] each
    n_rows = sum(len(p.rewards) for p in pieces)
    n_deg = sum(int(degenerate_group_mask(p.rewards, g).sum()) * g for p in pieces)
    n_tokens = sum(int(p.rollout.completion_mask[p.rows(g)].sum()) for p in pieces)
    n_rows, n_deg, n_tokens = (int(v) for v in global_sum(accelerator, [n_rows, n_deg, n_tokens]))
    alpha = alpha_from_counts(n_rows, n_deg) if options.use_alpha else 1.0
    return Advantages(per_piece, alpha, n_rows, n_deg, n_tokens)


# --- plan --------------------------------------------------------------------------------------

def plan_update(pieces: list[Piece], adv: Advantages, g: int, size: int, keep_zero: bool,
                accelerator) -> list[MicroBatch]:
    """This rank's micro-batches (``plan_micro_batches``), padded to the most passes of any rank."""
    rows = [p.rows(g) for p in pieces]
    lengths = [p.rollout.completion_mask[r].sum(1).tolist() for p, r in zip(pieces, rows)]
    plan = plan_micro_batches(rows, adv.per_piece, lengths, size, keep_zero)
    fallback = MicroBatch(0, rows[0][:1], torch.zeros(1))
    return pad_plan(plan, int(global_max(accelerator, len(plan))), fallback)


# --- backward ----------------------------------------------------------------------------------

def backward(accelerator, model: ModelParts, algorithm: Algorithm, rollout_cfg, pieces: list[Piece],
             plan: list[MicroBatch], adv: Advantages, loss_kwargs: dict) -> dict:
    """Forward and backward every micro-batch, the gradients synchronised at the last one only.

    The last micro-batch is the accumulation boundary (``accelerator.sync_gradients``): DDP
    all-reduces there and DeepSpeed reduces and runs its optimizer step inside that backward.
    So before it, the ranks agree whether any loss was non-finite; if so, every rank
    back-propagates NaN there, which every engine then refuses as a whole: DeepSpeed's
    overflow check (an all-reduced global norm) skips its step, and under DDP the all-reduced
    gradient norm is NaN on every rank (``optimizer_step`` skips it).
    """
    acc = accelerator
    loss_sum, metric_sums, nonfinite, mismatch = 0.0, {}, False, {}
    banned = torch.tensor(suppressed_token_ids(model.processor.tokenizer), dtype=torch.long)  # as sampling
    for k, mb in enumerate(plan):
        last = k == len(plan) - 1
        acc.sync_gradients = last
        sync = contextlib.nullcontext() if last or acc.num_processes == 1 else acc.no_sync(model.logprob_model)
        with sync:
            ro = pieces[mb.piece].rollout
            prompts, local = ro.prompt_index[mb.rows].unique(return_inverse=True)  # each prompt prefilled once
            prompt = select_rows(ro.prompt, prompts.tolist(), model.policy.config.image_token_id)
            width = max(int(ro.completion_mask[mb.rows].sum(1).max()), 1)  # no padding past the longest row
            ids, mask = ro.completion_ids[mb.rows, :width], ro.completion_mask[mb.rows, :width]
            logprobs = model.logprob_model(prompt, local, ids, mask)  # [n, C]
            logprobs = sampler_correction(rollout_cfg, ro, mb.rows, logprobs, mask, mismatch)  # vllm: log, TIS
            extra = _baseline_inputs(algorithm, model.reference, rollout_cfg.temperature, prompt, local, ids, mask,
                                     logprobs, banned)
            loss, metrics = algorithm.loss(logprobs, mb.advantages.to(logprobs.device), mask, alpha=adv.alpha,
                                           num_tokens=adv.num_tokens, num_sequences=adv.num_rows,
                                           **extra, **loss_kwargs)
            nonfinite = nonfinite or (mb.weight > 0 and not bool(torch.isfinite(loss)))
            scaled = torch.nan_to_num(loss, nan=0.0, posinf=0.0, neginf=0.0) * mb.weight
            if last and global_max(acc, float(nonfinite)) > 0:
                nonfinite, scaled = True, loss * float("nan")  # every rank refuses this step
            # DDP averages gradients over ranks while the loss is a global sum: scale by world size.
            acc.backward(scaled * acc.num_processes)
        loss_sum += loss.item() * mb.weight
        tokens = float(mask.sum()) * mb.weight
        for name, value in metrics.items():  # token-weighted, summed over ranks below
            metric_sums[name] = metric_sums.get(name, 0.0) + value.item() * tokens
    acc.sync_gradients = True
    names = sorted(metric_sums)
    totals = global_sum(acc, [loss_sum, *(metric_sums[n] for n in names)])  # each rank holds a share
    stats = {"loss": float("nan") if nonfinite else totals[0], "nonfinite": int(nonfinite)}
    stats.update({n: t / adv.num_tokens for n, t in zip(names, totals[1:])})
    stats.update(mismatch_summary(mismatch))  # this rank's sampler mismatch (vllm engine)
    return stats


def _baseline_inputs(algorithm: Algorithm, reference, temperature: float, prompt, rows, ids, mask,
                     logprobs, banned: torch.Tensor) -> dict:
    """Old-policy and reference log-probs, for the algorithms that need them (GRPO, Dr.GRPO)."""
    extra = {}
    if algorithm.needs_old_logprobs:  # one update per rollout: old policy = current, detached
        extra["old_logprobs"] = logprobs.detach()
    if algorithm.needs_reference:
        from gpg_vl.models.forward import grouped_completion_logprobs
        with torch.no_grad():
            extra["ref_logprobs"] = grouped_completion_logprobs(reference, prompt, rows, ids, mask,
                                                                temperature=temperature, banned=banned)
    return extra


# --- optimizer step ----------------------------------------------------------------------------

def optimizer_step(accelerator, model: ModelParts, optim: OptimParts, counters: dict, max_grad_norm: float,
                   nonfinite: bool) -> dict:
    """Clip and step, or skip a step whose loss or gradient is not finite (every rank alike: the
    loss flag is global and the gradient norm is taken after the all-reduce).

    Under DeepSpeed the engine has already stepped (or refused to) inside the last backward;
    ``clip_grad_norm_`` then reads its norm and ``optimizer.step`` is a no-op.
    """
    params = [p for p in model.logprob_model.parameters() if p.requires_grad]
    max_norm = max_grad_norm if max_grad_norm > 0 else float("inf")
    grad_norm = accelerator.clip_grad_norm_(params, max_norm)
    grad_norm = float("nan") if grad_norm is None else float(grad_norm)
    if nonfinite or not math.isfinite(grad_norm):
        counters["nonfinite_steps"] += 1
        counters["consecutive_nonfinite"] += 1
        optim.optimizer.zero_grad(set_to_none=True)
        model.logprob_model.zero_grad()
        warnings.warn(f"non-finite loss or gradient: step skipped ({counters['consecutive_nonfinite']} in a row)",
                      RuntimeWarning, stacklevel=2)
        return {"grad_norm": grad_norm, "skipped": 1, "nonfinite": 1}
    counters["consecutive_nonfinite"] = 0
    optim.optimizer.step()
    optim.optimizer.zero_grad(set_to_none=True)
    model.weights_version += 1  # a separate sampler (vllm) takes the new weights before its next rollout
    return {"grad_norm": grad_norm, "skipped": 0, "nonfinite": 0}


def update(run, pieces: list[Piece]) -> dict:
    """advantages -> plan -> backward -> optimizer step; the LR schedule then advances one step.

    The schedule follows the training step, taken or skipped (a batch of degenerate groups
    or a non-finite one): the learning rate at step k is the one the schedule names for k,
    and a run ends at the end of its schedule however many steps it skipped.
    """
    cfg, g, algorithm, options = run.cfg, run.cfg.rollout.num_generations, run.algorithm, run.options
    adv = compute_advantages(pieces, algorithm, options, g, run.accelerator)
    stats = {"alpha": adv.alpha, "valid_fraction": 1.0 - adv.num_degenerate / adv.num_rows, "loss": 0.0}
    if adv.num_degenerate == adv.num_rows and not algorithm.needs_reference:
        run.counters["skipped_steps"] += 1  # every group degenerate: no gradient, no step
        stats.update(grad_norm=0.0, skipped=1)
    else:
        plan = plan_update(pieces, adv, g, cfg.train.micro_batch_size, algorithm.needs_reference, run.accelerator)
        stats["micro_batches"] = len(plan)  # passes on this rank (the same on every rank)
        loss_kwargs = algorithm.loss_kwargs(options, cfg.rollout.max_new_tokens)
        stats.update(backward(run.accelerator, run.model, algorithm, cfg.rollout, pieces, plan, adv,
                              loss_kwargs))
        stats.update(optimizer_step(run.accelerator, run.model, run.optim, run.counters, cfg.train.max_grad_norm,
                                    bool(stats.pop("nonfinite"))))
    with warnings.catch_warnings():  # a skipped first step advances the schedule on purpose
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        run.optim.scheduler.step()
    return stats


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
    totals = global_sum(run.accelerator, local)
    out = {k: totals[2 * i] / totals[2 * i + 1] if totals[2 * i + 1] else float("nan")
           for i, k in enumerate(columns)}
    out.update({"draws": draws, **stats, "lr": run.optim.scheduler.get_last_lr()[0], "gen_seconds": t_gen,
                "step_seconds": t_all, "update_seconds": t_all - t_gen, **run.counters})
    out.update({f"verifier_warnings/{k}": v for k, v in warning_counts().items()})
    return out


def train_step(run) -> dict:
    """collect -> advantages -> plan -> backward -> optimizer step, timed."""
    t0 = time.perf_counter()
    pieces, draws = collect(run.cfg, run.accelerator, run.model, run.data, run.reward_model, run.counters)
    t_gen = time.perf_counter() - t0
    stats = update(run, pieces)
    return step_metrics(run, pieces, draws, stats, t_gen, time.perf_counter() - t0)
