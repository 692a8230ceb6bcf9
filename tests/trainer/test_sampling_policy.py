"""The update evaluates the policy that sampled: the same mode (no dropout, LoRA's included),
the same support (vision tokens banned while sampling are banned in the update's softmax), and a
clean start after the warm-up (no gradient left over, eval mode)."""
from __future__ import annotations

import warnings

import pytest
import torch

from gpg_vl.config import Config, load_config
from gpg_vl.config.schema import LoraConfig, WarmupConfig
from gpg_vl.processing import encode_prompts
from gpg_vl.rollout import suppressed_token_ids
from gpg_vl.trainer.setup import build_run

G, C = 2, 5


def make_run(tiny_dirs, synthetic_data, tmp_path, *overrides: str):
    return build_run(load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={synthetic_data['train']}", "data.limit=3", f"rollout.num_generations={G}",
        "rewards=[{name: format}]", "warmup.steps=0", "train.steps=1", "train.tensorboard=false",
        f"train.output_dir={tmp_path / 'run'}", *overrides]))


def inputs(run) -> tuple:
    batch = encode_prompts(run.model.processor, run.data.train_samples[:2], **run.data.encode_kwargs)
    ids = torch.randint(20, 200, (2 * G, C), generator=torch.Generator().manual_seed(0))
    return batch, torch.arange(2).repeat_interleave(G), ids, torch.ones_like(ids)


def test_lora_dropout_is_off_in_the_update(tiny_dirs, synthetic_data, tmp_path, scrambler):
    """LoRA dropout configured, policy left in train mode (as a warm-up leaves it): the update's
    log-probs are the sampling policy's (eval mode, no gradient), every time."""
    run = make_run(tiny_dirs, synthetic_data, tmp_path, "model.lora.enabled=true", "model.lora.r=4",
                   "model.lora.alpha=4", "model.lora.dropout=0.5")
    scrambler(run.model.policy, seed=2)  # non-zero LoRA B, so the adapters (and their dropout) matter
    x = inputs(run)
    run.model.policy.eval()
    with torch.no_grad():
        sampling = run.model.logprob_model(*x)  # [N, C]
    run.model.policy.train()
    first, second = run.model.logprob_model(*x), run.model.logprob_model(*x)  # with gradients, as in the update
    torch.testing.assert_close(first.detach(), sampling, rtol=0, atol=1e-6)
    torch.testing.assert_close(second.detach(), sampling, rtol=0, atol=1e-6)
    assert LoraConfig().dropout == 0.0  # and the RL default has none to switch off


def test_warm_up_leaves_no_gradient_and_eval_mode(tiny_dirs, synthetic_data, tmp_path):
    from gpg_vl.trainer.warmup import run_warmup

    run = make_run(tiny_dirs, synthetic_data, tmp_path)
    run_warmup(run.model.policy, run.model.processor, run.data.train_samples, WarmupConfig(steps=2, batch_size=2),
               encode_kwargs=run.data.encode_kwargs, box_frame=run.model.family.box_frame, seed=0, log=lambda *_: None)
    assert all(p.grad is None for p in run.model.policy.parameters())  # nothing added to RL step 1
    assert not any(m.training for m in run.model.policy.modules())


def test_the_update_bans_the_tokens_sampling_bans(tiny_dirs, synthetic_data, tmp_path, scrambler):
    """log-probs over the vocabulary without the vision tokens: they sum to 1 over the rest."""
    run = make_run(tiny_dirs, synthetic_data, tmp_path)
    scrambler(run.model.policy, seed=3)
    banned = suppressed_token_ids(run.model.processor.tokenizer)
    batch, rows, ids, mask = inputs(run)
    vocab = run.model.policy.config.text_config.vocab_size
    allowed = torch.tensor([t for t in range(vocab) if t not in banned])
    with torch.no_grad():  # every allowed token as the first completion token of row 0
        first = run.model.logprob_model(batch, rows[:1].expand(len(allowed)), allowed[:, None],
                                  torch.ones(len(allowed), 1, dtype=torch.long))  # [V - 5, 1]
        unbanned = torch.logsumexp(first[:, 0], 0).exp().item()
    assert unbanned == pytest.approx(1.0, abs=1e-5)
    assert len(banned) == 5  # <|vision_start|>, <|vision_end|>, <|vision_pad|>, <|image_pad|>, <|video_pad|>


def test_top_p_below_one_warns_that_the_update_ignores_it(tiny_dirs, synthetic_data, tmp_path):
    with pytest.warns(UserWarning, match="rollout.top_p=0.9"):
        make_run(tiny_dirs, synthetic_data, tmp_path, "rollout.top_p=0.9")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        make_run(tiny_dirs, synthetic_data, tmp_path / "p1", "rollout.top_p=1.0")
