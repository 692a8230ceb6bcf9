"""Supervised format warm-up before RL (the embedded demo's first phase).

A randomly initialised policy never writes ``<answer>...</answer>`` by chance, so GPG would see
only zero rewards. A short supervised phase teaches the answer format; with
``random_answers`` every prompt is paired with every answer of its task, once each, so accuracy
stays at chance and the before/after evaluation measures what GPG itself learned. (One random
answer per prompt left the answer marginals skewed by the last batches' draws: red 38 % against
yellow 12 %, count "1" 41 % against "2" 8 %, measured after 60 steps; RL then started with
nearly dead answers, docs/benchmarks.md.)
"""
from __future__ import annotations

import random

import torch

from gpg_vl.errors import ConfigError
from gpg_vl.families import family_of
from gpg_vl.models.forward import completion_logprobs
from gpg_vl.processing import encode_prompts
from gpg_vl.trainer.master_weights import make_optimizer


def target_texts(samples: list[dict], template: str, random_answers: bool, rng: random.Random,
                 box_frame: str, end_token: str) -> list[str]:
    """The completion each sample should learn: the template around its (random) answer."""
    if random_answers:
        from gpg_vl.data.synthetic import random_answer
        answers = [random_answer(s, rng, box_frame) for s in samples]
    else:
        answers = [s["answer"] for s in samples]
    return [template.format(answer=a) + end_token for a in answers]


def every_answer(samples: list[dict], template: str, box_frame: str, end_token: str) -> tuple[list[dict], list[str]]:
    """Each sample once per answer of its task, with that answer's completion: the cross-entropy
    is then lowest at the uniform answer distribution for every image, with no sampling noise."""
    from gpg_vl.data.synthetic import answer_choices

    pairs = [(s, a) for s in samples for a in answer_choices(s, box_frame)]
    return [s for s, _ in pairs], [template.format(answer=a) + end_token for _, a in pairs]


def tokenize_targets(tokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded target ids and mask [N, C]."""
    enc = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(e) for e in enc)
    ids = torch.full((len(enc), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros(len(enc), width, dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, :len(e)] = torch.tensor(e)
        mask[i, :len(e)] = 1
    return ids, mask


def run_warmup(model, processor, samples: list[dict], cfg, *, encode_kwargs: dict, box_frame: str,
               seed: int, log=print, progress=None) -> list[float]:
    """``cfg.steps`` AdamW steps of token-mean cross-entropy on target completions; losses.
    ``progress`` (a ``gpg_vl.console.ProgressLine``) shows each step with its ETA."""
    if cfg.random_answers:
        check_random_answers(samples)
    rng = random.Random(seed)
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, master_weights=True, lr=cfg.lr)  # float32 masters for a bf16 policy
    model.train()
    end = family_of(model).end_tokens[0]  # the chat turn's end token, learnt with the format
    losses = []
    for step in range(cfg.steps):
        batch_samples = [samples[rng.randrange(len(samples))] for _ in range(cfg.batch_size)]
        if cfg.random_answers:
            batch_samples, texts = every_answer(batch_samples, cfg.target_template, box_frame, end)
        else:
            texts = target_texts(batch_samples, cfg.target_template, False, rng, box_frame, end)
        prompt = {k: v.to(device) for k, v in encode_prompts(processor, batch_samples, **encode_kwargs).items()}
        ids, mask = (t.to(device) for t in tokenize_targets(processor.tokenizer, texts))
        logprobs = completion_logprobs(model, prompt, ids, mask)  # [N, C]
        loss = -(logprobs * mask).sum() / mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(loss.item())
        if progress is not None:
            progress.update(step + 1, f"loss {loss.item():.3f}")
        elif (step + 1) % max(1, cfg.steps // 5) == 0:
            log(f"warm-up step {step + 1}/{cfg.steps} loss {loss.item():.3f}")
    if progress is not None:
        progress.close()
    # RL starts clean: no warm-up gradient left in .grad (it would be added to the first RL
    # step's), and the policy back in eval mode, the mode sampling and the update evaluate it in.
    optimizer.zero_grad(set_to_none=True)
    model.eval()
    return losses


def check_random_answers(samples) -> None:
    """``warmup.random_answers`` draws answers for the demo's synthetic tasks only: any other task
    is refused before the warm-up starts, with the two settings that fix it."""
    from gpg_vl.data.synthetic import RANDOM_ANSWER_TASKS

    tasks = sorted({s.get("task") for s in samples[:2000]} - set(RANDOM_ANSWER_TASKS), key=str)
    if tasks:
        raise ConfigError(f"warmup.random_answers=true draws random answers for the demo's synthetic tasks "
                         f"{list(RANDOM_ANSWER_TASKS)} only; the data has task(s) {tasks}: set "
                         "warmup.random_answers=false (teach the format with the real answers) or warmup.steps=0")
