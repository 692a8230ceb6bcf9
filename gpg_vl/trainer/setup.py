"""Build everything a run needs from the config, checking inputs before any training step."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from gpg_vl.algorithms import Algorithm, get_algorithm
from gpg_vl.config import Config
from gpg_vl.errors import ConfigError
from gpg_vl.families import checkpoint_family, opens_think
from gpg_vl.models import load_policy, load_processor
from gpg_vl.models.forward import LogprobModel, base_and_head, enable_checkpointing
from gpg_vl.rollout import suppressed_token_ids
from gpg_vl.trainer.master_weights import make_optimizer
from gpg_vl.trainer.rewards import RewardModel
from gpg_vl.trainer.sampler import PromptSampler

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedModel, ProcessorMixin

    from gpg_vl.algorithms.registry import AlgorithmOptions
    from gpg_vl.data.dataset import SampleSet
    from gpg_vl.families import Family


@dataclass
class ModelParts:
    """The policy in the forms the phases use."""

    policy: PreTrainedModel  # the unwrapped model: generation, evaluation, saving
    logprob_model: torch.nn.Module  # the prepared (DDP / DeepSpeed) wrapper the update calls
    processor: ProcessorMixin
    family: Family
    reuse_image_features: bool = False  # frozen vision tower: the update reuses sampling's image features
    reference: PreTrainedModel | None = None  # GRPO only: set by ``frozen_reference`` when RL starts
    weights_version: int = 0  # optimizer steps applied in this process (a vllm sampler syncs on a change)
    vllm_engine: object = None  # rollout.engine=vllm: the in-process engine, built on first use


@dataclass
class OptimParts:
    optimizer: torch.optim.Optimizer  # prepared: DeepSpeed's step runs inside the last backward
    scheduler: torch.optim.lr_scheduler.LRScheduler  # not prepared: one step per training step


@dataclass
class DataParts:
    train_samples: SampleSet
    test_samples: SampleSet | list
    sampler: PromptSampler  # the data position (resumes with the weights)
    encode_kwargs: dict  # how prompts are encoded (``prompt_kwargs``)


@dataclass
class Run:
    """One training run's typed parts (built once by ``build_run``); each phase takes the parts it reads."""

    cfg: Config
    accelerator: Accelerator
    model: ModelParts
    optim: OptimParts
    data: DataParts
    reward_model: RewardModel
    algorithm: Algorithm  # advantage function, loss, what it needs
    options: AlgorithmOptions  # the algorithm's typed options (cfg.algorithm.options())
    counters: dict = field(default_factory=lambda: {"skipped_steps": 0, "nonfinite_steps": 0,
                                                     "consecutive_nonfinite": 0})

    @property
    def total_steps(self) -> int:
        """The run's one step count: train.steps, or resolved from train.epochs and the rows loaded."""
        return self.cfg.train.total_steps(len(self.data.train_samples))


def make_accelerator():
    """The Accelerator for this launch.

    CPU without DeepSpeed: ``Accelerator(cpu=True)`` (real gloo DDP under ``--multi_gpu``).
    DeepSpeed on CPU (tests, no GPU): accelerate finds no backend by itself and would run every
    rank alone, so the process group is set to gloo first.
    """
    import os

    from accelerate import Accelerator, PartialState

    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    if deepspeed:
        separate_extension_builds()
    if torch.cuda.is_available():
        return Accelerator()
    if deepspeed:
        PartialState(backend="gloo")
        return Accelerator()
    return Accelerator(cpu=True)


def separate_extension_builds() -> None:
    """One JIT-extension folder per torch version (``TORCH_EXTENSIONS_DIR``, unless set).

    DeepSpeed builds its CPU communication op at start-up into ~/.cache/torch_extensions/
    py311_<cuda>/, a folder that does not name the torch version. torch >= 2.14 guards the build
    with an OS lock and leaves the ``lock`` file behind; torch < 2.14 (the vLLM environment's
    2.13) reads that file as a build in progress and waits for it forever: every DeepSpeed
    launch there hung in ``init_distributed``. Separate folders also stop the two environments
    from rebuilding the op over each other's (ABI-incompatible) build.
    """
    import os

    if "TORCH_EXTENSIONS_DIR" not in os.environ:
        from torch.utils.cpp_extension import get_default_build_root

        os.environ["TORCH_EXTENSIONS_DIR"] = os.path.join(get_default_build_root(), f"torch-{torch.__version__}")


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


def warn_top_p(top_p: float) -> None:
    """Nucleus sampling truncates the distribution the update does not (TRL and verl alike)."""
    if top_p < 1.0:
        import warnings

        warnings.warn(f"rollout.top_p={top_p:g} < 1: completions are drawn from the nucleus, but the update "
                      "follows the gradient of the untruncated policy (as TRL and verl do); set rollout.top_p=1 "
                      "for an exact on-policy gradient", UserWarning, stacklevel=3)


def prompt_kwargs(cfg: Config) -> dict:
    """How prompts are encoded (training, evaluation, warm-up and the length check alike)."""
    d = cfg.data
    switch = {} if d.thinking is None else dict(
        chat_template_kwargs=checkpoint_family(cfg.model.path).chat_template_kwargs(d.thinking))
    return dict(prompt_template=d.prompt_template, system_prompt=d.system_prompt, prompt_format=d.prompt_format,
                completion_prefix=d.completion_prefix, min_pixels=cfg.model.min_pixels,
                max_pixels=cfg.model.max_pixels, **switch)


def prompt_check(cfg: Config, processor) -> dict:
    """``load_samples`` options that skip (or refuse) training rows over data.max_prompt_length
    (by default the tokenizer's context: a prompt length is never unbounded)."""
    if processor is None:  # nothing to count with (build_run always passes one)
        return {}
    from gpg_vl.data.validate import check_resizable, default_prompt_limit
    from gpg_vl.processing import prompt_length

    kwargs = prompt_kwargs(cfg)
    limit = cfg.data.max_prompt_length or default_prompt_limit(processor)  # never unbounded
    def length(sample, sizes):  # the images must survive the encoder's resize rule first
        check_resizable(processor, sample, sizes, cfg.model.min_pixels, cfg.model.max_pixels)
        return prompt_length(processor, sample, sizes, **kwargs)

    return dict(prompt_length=length, max_prompt_length=limit, on_long_prompt=cfg.data.on_long_prompt)


def check_format_mode(cfg: Config, processor) -> None:
    """A chat template that opens <think> itself leaves completions inside the block: the format
    reward must not ask them to open it again (every completion would score 0)."""
    if cfg.data.prompt_format != "chat" or not opens_think(processor, prompt_kwargs(cfg).get("chat_template_kwargs")):
        return
    for i, spec in enumerate(cfg.rewards):
        if spec.name == "format" and spec.options.get("mode", "think") == "think":
            raise ValueError(f"rewards[{i}] (format, mode think): the chat template of {cfg.model.path} opens "
                             "<think> itself; use options: {mode: think_prefilled}" +
                             (" or data.thinking=false" if cfg.data.thinking is None else ""))


def load_data(cfg: Config, processor=None) -> tuple[list, list]:
    """Training and test samples, checked; with data.max_prompt_length, ``processor`` counts prompts."""
    from gpg_vl.data.dataset import load_samples

    d = cfg.data
    common = dict(adapter=d.adapter, adapter_options=d.adapter_options or None, column_map=d.column_map or None,
                  image_root=d.image_root, on_bad_image=d.on_bad_image, max_pixels=d.max_image_pixels,
                  on_bad_row=d.on_bad_row, task=d.task, choices_in_prompt=d.choices_in_prompt)
    train = load_samples(d.train, split=d.split, limit=d.limit, **common, **prompt_check(cfg, processor))
    test = load_samples(d.test, split="test", limit=cfg.train.eval_limit, **common) if d.test else []
    return train, test


def param_groups(policy, train) -> list:
    """The trainable parameters as the optimizer takes them: one list, or with ``train.vision_lr``
    two groups, the vision tower's at its own rate (a scheduler scales each group's rate alike).
    ms-swift's ``vit_lr`` and Qwen2.5-VL's fine-tuning scripts (``--vision_tower_lr``, the merger
    apart under ``--mm_projector_lr``) give the tower its own rate too; here the merger goes with it."""
    params = [p for p in policy.parameters() if p.requires_grad]
    if train.vision_lr is None:
        return params
    vision = {id(p) for p in vision_tower(policy).parameters()}
    groups = [{"params": [p for p in params if id(p) not in vision]},
              {"params": [p for p in params if id(p) in vision], "name": "vision"}]
    return [{**g, "lr": peak_rate(g, train)} for g in groups if g["params"]]


def peak_rate(group: dict, train) -> float:
    """A parameter group's peak rate: the vision tower's own (``train.vision_lr``) or ``train.lr``."""
    return train.vision_lr if group.get("name") == "vision" else train.lr


def apply_configured_rates(optimizer, scheduler, train) -> None:
    """After a checkpoint loads: torch restores each group's rate, betas and weight decay with the
    optimizer state, and the scheduler its base rates, so a resume allowed to change them
    (``--allow-change train.lr``) would run on the saved ones. Put the config's back, at the
    resumed point of the schedule (the schedule's shape is the config's already: it is rebuilt)."""
    inner = getattr(optimizer, "optimizer", optimizer)
    peaks = [peak_rate(group, train) for group in inner.param_groups]
    state = scheduler.state_dict()
    rates = [peak * fn(state["last_epoch"]) for peak, fn in zip(peaks, scheduler.lr_lambdas, strict=True)]
    for group, peak, rate in zip(inner.param_groups, peaks, rates, strict=True):
        group.update(lr=rate, initial_lr=peak, weight_decay=train.weight_decay, betas=tuple(train.adam_betas))
    scheduler.load_state_dict({**state, "base_lrs": peaks, "_last_lr": rates})


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
    algorithm, options = get_algorithm(cfg.algorithm.name), cfg.algorithm.options()
    # The prompt-length check needs the processor (cheap); the weights load after the data is checked.
    processor = load_processor(cfg.model.path, cfg.model.min_pixels, cfg.model.max_pixels)
    train, test = load_data(cfg, processor)  # missing fields / images / long prompts stop here
    device = str(accelerator.device)
    policy, processor, family = load_policy(
        cfg.model.path, dtype=cfg.model.dtype, device=device, attn_implementation=cfg.model.attn_implementation,
        min_pixels=cfg.model.min_pixels, max_pixels=cfg.model.max_pixels, processor=processor)
    check_format_mode(cfg, processor)
    reward_model = RewardModel(cfg.rewards, family.box_frame)
    warn_top_p(cfg.rollout.top_p)
    if cfg.model.lora.enabled:
        policy = apply_lora(policy, cfg.model.lora, family)
    if cfg.model.freeze_vision:
        vision_tower(policy).requires_grad_(False)
    if cfg.model.gradient_checkpointing:  # gpg-vl's own: transformers' drops the update's prompt cache
        enable_checkpointing(policy)
    params = param_groups(policy, cfg.train)
    vision_frozen = not any(p.requires_grad for p in vision_tower(policy).parameters())
    # bf16 / fp16 weights get float32 master weights (DeepSpeed keeps its own, so not under it).
    no_deepspeed = getattr(accelerator.state, "deepspeed_plugin", None) is None
    optimizer = make_optimizer(params, master_weights=no_deepspeed, lr=cfg.train.lr,
                               weight_decay=cfg.train.weight_decay, betas=tuple(cfg.train.adam_betas))
    scheduler = make_scheduler(optimizer, cfg, cfg.train.total_steps(len(train)))
    configure_deepspeed(accelerator, cfg)
    # The schedule stays the trainer's, outside prepare: it advances once per training step, taken
    # or skipped, on every engine (a prepared one steps once per process under DDP, and inside
    # DeepSpeed's step only when that step is applied).
    logprob_model, optimizer = accelerator.prepare(
        LogprobModel(policy, cfg.rollout.temperature, suppressed_token_ids(processor.tokenizer)), optimizer)
    accelerator.register_for_checkpointing(scheduler)
    encode_kwargs = prompt_kwargs(cfg)
    sampler = PromptSampler(len(train), cfg.train.seed, accelerator.process_index, accelerator.num_processes)
    accelerator.register_for_checkpointing(sampler)  # the data position resumes with the weights
    return Run(cfg=cfg, accelerator=accelerator,
               model=ModelParts(policy, logprob_model, processor, family, reuse_image_features=vision_frozen),
               optim=OptimParts(optimizer, scheduler),
               data=DataParts(train, test, sampler, encode_kwargs),
               reward_model=reward_model, algorithm=algorithm, options=options)


def frozen_reference(run, resumed: bool = False):
    """The reference model of an algorithm with a KL term (GRPO): a frozen copy of the policy
    that RL starts from, so the KL at the first RL step is 0. Call it after the warm-up (a
    resumed run: before its checkpoint loads, and only if it had no warm-up). None for GPG."""
    import copy

    from gpg_vl.trainer.zero3 import is_zero3

    if not run.algorithm.needs_reference:
        return None
    if resumed and run.cfg.warmup.steps:
        raise ConfigError(f"algorithm.name={run.cfg.algorithm.name} with warmup.steps={run.cfg.warmup.steps} cannot "
                          "resume: its reference model (the policy after the warm-up) is not in the checkpoint")
    if is_zero3(run.accelerator):  # partitioned weights cannot be copied: load the starting weights again
        if run.cfg.warmup.steps:
            raise ConfigError("algorithm.name=grpo with warmup.steps > 0 under ZeRO-3: the reference would be "
                              "the weights before the warm-up; use ZeRO-2 or DDP, or warmup.steps=0")
        reference, _, _ = load_policy(run.cfg.model.path, dtype=run.cfg.model.dtype, device=str(run.accelerator.device))
    else:
        reference = copy.deepcopy(run.model.policy)
    return reference.eval().requires_grad_(False)
