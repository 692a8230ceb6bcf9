"""Build everything a run needs from the config, checking inputs before any training step."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import torch

from gpg_vl.algorithms import get_advantage_estimator, get_policy_loss
from gpg_vl.config import Config
from gpg_vl.models import load_policy, load_processor
from gpg_vl.models.forward import LogprobModel, base_and_head
from gpg_vl.trainer.rewards import RewardModel
from gpg_vl.trainer.sampler import PromptSampler


@dataclass
class Run:
    """The live objects of one training run (built once by ``build_run``)."""

    cfg: Config
    accelerator: object
    policy: object  # the unwrapped model (generation, saving)
    logprob_model: object  # the prepared (DDP / DeepSpeed) wrapper used in the update
    processor: object
    family: object
    optimizer: object
    scheduler: object
    reward_model: RewardModel
    train_samples: list
    test_samples: list
    sampler: PromptSampler
    encode_kwargs: dict
    policy_loss: object
    advantage_fn: object
    reference: object = None  # GRPO baseline only
    reuse_image_features: bool = False  # frozen vision tower: the update reuses sampling's image features
    counters: dict = field(default_factory=lambda: {"skipped_steps": 0, "nonfinite_steps": 0,
                                                     "consecutive_nonfinite": 0})

    @property
    def total_steps(self) -> int:
        """The run's one step count: train.steps, or resolved from train.epochs and the rows loaded."""
        return self.cfg.train.total_steps(len(self.train_samples))


def make_accelerator():
    """The Accelerator for this launch.

    CPU without DeepSpeed: ``Accelerator(cpu=True)`` (real gloo DDP under ``--multi_gpu``).
    DeepSpeed on CPU (tests, no GPU): accelerate finds no backend by itself and would run every
    rank alone, so the process group is set to gloo first.
    """
    import os

    from accelerate import Accelerator, PartialState

    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    if torch.cuda.is_available():
        return Accelerator()
    if deepspeed:
        PartialState(backend="gloo")
        return Accelerator()
    return Accelerator(cpu=True)


def configure_deepspeed(accelerator, cfg: Config) -> None:
    """Fill DeepSpeed's batch keys: one optimizer step per training step, whatever the number of
    micro-batches (the trainer marks the accumulation boundary itself), clipping from the config."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    ds = plugin.deepspeed_config
    ds["train_micro_batch_size_per_gpu"] = 1
    ds["gradient_accumulation_steps"] = 1
    ds["train_batch_size"] = accelerator.num_processes
    if ds.get("gradient_clipping", "auto") == "auto":
        ds["gradient_clipping"] = cfg.train.max_grad_norm


def vision_tower(model):
    return base_and_head(model)[0].visual


def lora_target_regex(lora, family) -> str:
    """peft ``target_modules`` regex: the named projections, outside the vision tower unless asked."""
    names = "|".join(re.escape(n) for n in lora.target_modules)
    if lora.include_vision:
        return rf".*\.({names})$"
    return rf"^(?!{re.escape(family.vision_prefix)}\.).*\.({names})$"


def apply_lora(policy, lora, family):
    """Wrap the policy with LoRA adapters (peft); only adapter weights then train."""
    from peft import LoraConfig as PeftLoraConfig, get_peft_model

    config = PeftLoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=lora_target_regex(lora, family), task_type="CAUSAL_LM")
    return get_peft_model(policy, config)


def prompt_kwargs(cfg: Config) -> dict:
    """How prompts are encoded (training, evaluation, warm-up and the length check alike)."""
    d = cfg.data
    return dict(prompt_template=d.prompt_template, system_prompt=d.system_prompt, prompt_format=d.prompt_format,
                completion_prefix=d.completion_prefix, min_pixels=cfg.model.min_pixels,
                max_pixels=cfg.model.max_pixels)


def prompt_check(cfg: Config, processor) -> dict:
    """``load_samples`` options that skip (or refuse) training rows over data.max_prompt_length."""
    if cfg.data.max_prompt_length is None:
        return {}
    from gpg_vl.processing import prompt_length

    kwargs = prompt_kwargs(cfg)
    return dict(prompt_length=lambda sample, sizes: prompt_length(processor, sample, sizes, **kwargs),
                max_prompt_length=cfg.data.max_prompt_length, on_long_prompt=cfg.data.on_long_prompt)


def load_data(cfg: Config, processor=None) -> tuple[list, list]:
    """Training and test samples, checked; with data.max_prompt_length, ``processor`` counts prompts."""
    from gpg_vl.data.dataset import load_samples

    d = cfg.data
    common = dict(adapter=d.adapter, adapter_options=d.adapter_options or None, column_map=d.column_map or None,
                  image_root=d.image_root, on_bad_image=d.on_bad_image, max_pixels=d.max_image_pixels,
                  task=d.task, choices_in_prompt=d.choices_in_prompt)
    train = load_samples(d.train, split=d.split, limit=d.limit, **common, **prompt_check(cfg, processor))
    test = load_samples(d.test, split="test", limit=cfg.train.eval_limit, **common) if d.test else []
    return train, test


def make_scheduler(optimizer, cfg: Config, total_steps: int):
    """The LR schedule over the run's ``total_steps`` (resolved from train.steps or train.epochs)."""
    from transformers import get_scheduler

    name = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[cfg.train.lr_schedule]
    return get_scheduler(name, optimizer, num_warmup_steps=cfg.train.warmup_steps,
                         num_training_steps=max(1, total_steps))


def build_run(cfg: Config) -> Run:
    from accelerate.utils import set_seed

    accelerator = make_accelerator()
    set_seed(cfg.train.seed)
    random.seed(cfg.train.seed)
    policy_loss = get_policy_loss(cfg.algorithm.name)  # fails fast on a bad name
    advantage_fn = get_advantage_estimator(cfg.algorithm.name)
    # The prompt-length check needs the processor (cheap); the weights load after the data is checked.
    processor = load_processor(cfg.model.path, cfg.model.min_pixels, cfg.model.max_pixels) \
        if cfg.data.max_prompt_length is not None else None
    train, test = load_data(cfg, processor)  # missing fields / images / long prompts stop here
    device = str(accelerator.device)
    policy, processor, family = load_policy(
        cfg.model.path, dtype=cfg.model.dtype, device=device, attn_implementation=cfg.model.attn_implementation,
        min_pixels=cfg.model.min_pixels, max_pixels=cfg.model.max_pixels, processor=processor)
    reward_model = RewardModel(cfg.rewards, family.box_frame)
    if cfg.model.lora.enabled:
        policy = apply_lora(policy, cfg.model.lora, family)
    if cfg.model.freeze_vision:
        vision_tower(policy).requires_grad_(False)
    if cfg.model.gradient_checkpointing:
        if hasattr(policy, "activation_checkpointing_enable"):  # transformers >= 5.x name
            policy.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            policy.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    params = [p for p in policy.parameters() if p.requires_grad]
    vision_frozen = not any(p.requires_grad for p in vision_tower(policy).parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                                  betas=tuple(cfg.train.adam_betas))
    scheduler = make_scheduler(optimizer, cfg, cfg.train.total_steps(len(train)))
    configure_deepspeed(accelerator, cfg)
    logprob_model, optimizer, scheduler = accelerator.prepare(LogprobModel(policy, cfg.rollout.temperature),
                                                              optimizer, scheduler)
    reference = None
    if policy_loss.requires_reference:  # GRPO baseline: a frozen copy; GPG never loads one
        reference, _, _ = load_policy(cfg.model.path, dtype=cfg.model.dtype, device=device)
        reference.eval().requires_grad_(False)
    encode_kwargs = prompt_kwargs(cfg)
    sampler = PromptSampler(len(train), cfg.train.seed, accelerator.process_index, accelerator.num_processes)
    accelerator.register_for_checkpointing(sampler)  # the data position resumes with the weights
    return Run(cfg=cfg, accelerator=accelerator, policy=policy, logprob_model=logprob_model,
               processor=processor, family=family, optimizer=optimizer, scheduler=scheduler,
               reward_model=reward_model, train_samples=train, test_samples=test, sampler=sampler,
               encode_kwargs=encode_kwargs, policy_loss=policy_loss, advantage_fn=advantage_fn,
               reference=reference, reuse_image_features=vision_frozen)
