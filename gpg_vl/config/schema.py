"""The training configuration: nested typed dataclasses, one owner per value.

Every field carries its one-line documentation (``gpg-vl train --describe-config`` prints them).
YAML files in ``configs/`` set these; ``key.sub=value`` on the command line overrides them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from gpg_vl.config.loader import opt
from gpg_vl.config.validate import check_values
from gpg_vl.prompts import check_prompt_template

REPORT_TO = ("tensorboard", "jsonl", "wandb", "swanlab")  # train.report_to values (gpg_vl.trainer.sinks)


@dataclass
class LoraConfig:
    enabled: bool = opt(False, "train LoRA adapters (peft) instead of all weights")
    r: int = opt(64, "LoRA rank")
    alpha: int = opt(128, "LoRA scaling numerator (scale = alpha / r)")
    dropout: float = opt(0.0, "LoRA dropout, active only in the supervised warm-up: RL samples and updates "
                              "the policy in eval mode (the update's log-probs are the sampling policy's)")
    target_modules: list[str] = opt(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                                    "language-model module names to adapt (the vision tower is excluded)")
    include_vision: bool = opt(False, "also adapt the vision tower's matching modules")
    merge_on_export: bool = opt(True, "merge adapters into the weights when saving the final model")


@dataclass
class ModelConfig:
    path: str = opt("runs/demo/tiny-model", "hub id or local folder of the policy (and its processor)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = opt(
        "auto", "parameter dtype; auto = bfloat16 on GPU, float32 on CPU. Low-precision weights train on "
                "float32 master weights (DeepSpeed's own, or gpg-vl's without DeepSpeed); exports keep this dtype")
    attn_implementation: str | None = opt(None, "transformers attention backend (sdpa, flash_attention_2, eager)")
    freeze_vision: bool = opt(False, "freeze the vision tower (patch embed, blocks, merger)")
    gradient_checkpointing: bool = opt(False, "recompute each decoder layer's and vision block's activations "
                                              "in backward to save memory (same gradient, in any module mode)")
    min_pixels: int | None = opt(None, "processor min_pixels (None: the processor's own)")
    max_pixels: int | None = opt(None, "processor max_pixels (None: the processor's own)")
    lora: LoraConfig = field(default_factory=LoraConfig, metadata={"help": "LoRA adapters"})


@dataclass
class DataConfig:
    train: str = opt("runs/demo/data/train.jsonl", "training data: local JSONL/Parquet/folder or hub id")
    test: str | None = opt(None, "held-out data evaluated before and after training (optional)")
    adapter: str | None = opt(None, "dataset adapter name (see data/README.md); None = project schema")
    adapter_options: dict = opt({}, "keyword options of the adapter (e.g. box_frame for virft_lisa)")
    split: str = opt("train", "split to read from a hub dataset or folder")
    column_map: dict = opt({}, "schema field -> source column, for custom datasets")
    task: str | None = opt(None, "task of rows that have no `task` field (e.g. math, choice, counting; "
                                 "reward `tasks:` lists match it)")
    choices_in_prompt: bool = opt(False, "append each row's `choices` to its problem as 'A. ...' lines (off: "
                                         "the prompt shows only `problem`, which may already list them)")
    image_root: str | None = opt(None, "folder that relative image paths are resolved against")
    on_bad_image: Literal["skip", "error"] = opt(
        "skip", "a training row with a missing/corrupt/oversized image is skipped with a counted warning "
        "naming it (skip), or stops loading (error)")
    max_image_pixels: int = opt(89_478_485, "refuse images larger than this (decompression bombs)")
    on_bad_row: Literal["skip", "error"] = opt(
        "skip", "a training row that is malformed (bad JSON line, mistyped field, schema error) or holds a "
        "vision special token in a text field is skipped with a counted warning naming file, row and field "
        "(skip), or stops loading (error)")
    limit: int | None = opt(None, "use at most this many training rows")
    prompt_template: str = opt("{problem}", "user text; {problem} and other sample fields are filled in "
                                            "(raw format: the whole prompt, {image} where the images go)")
    system_prompt: str | None = opt(None, "system message (None: the chat template's default; chat format only)")
    prompt_format: Literal["chat", "raw"] = opt(
        "chat", "chat: the processor's chat template around the images and prompt_template; raw: "
                "prompt_template as the whole prompt, no chat template (base models)")
    completion_prefix: str = opt("", "text appended to the prompt, after the chat template's assistant "
                                     "header in chat format (a prefill, e.g. '<think>'): the model continues it; "
                                     "it is part of the prompt, not of the scored or trained completion")
    thinking: bool | None = opt(None, "reasoning switch of a chat template that has one (Qwen3.5: "
                                      "enable_thinking; false writes an empty <think></think>); None: the "
                                      "template's default. Qwen3-VL has none: its Thinking checkpoints open "
                                      "<think> in the template, Instruct ones do not")
    max_prompt_length: int | None = opt(None, "training rows whose prompt (text + image tokens, as the "
                                              "processor expands them) is longer are skipped or refused "
                                              "before training (data.on_long_prompt); never truncated; "
                                              "null: the tokenizer's model_max_length (else 16384)")
    on_long_prompt: Literal["skip", "error"] = opt("skip", "a training row over data.max_prompt_length is "
                                                           "skipped and counted, or stops loading")


@dataclass
class VllmConfig:
    gpu_memory_utilization: float = opt(0.3, "fraction of the device's memory the colocated vLLM engine may take "
                                             "(weights + KV cache); the trainer keeps the rest. On CPU it is a "
                                             "fraction of host memory: keep it small (0.1)")
    tensor_parallel_size: int = opt(1, "vLLM tensor parallelism per engine (only 1 for now: one engine per process)")
    enable_sleep_mode: bool = opt(False, "GPU: free the KV cache and offload the engine's weights during the update")
    max_model_len: int | None = opt(None, "prompt + completion tokens the engine plans for (None: the model's own limit)")
    enforce_eager: bool = opt(False, "no CUDA graphs (slower decode, faster start, less memory)")


@dataclass
class RolloutConfig:
    num_generations: int = opt(8, "G: completions sampled per prompt")
    max_new_tokens: int = opt(64, "maximum completion length in tokens")
    temperature: float = opt(1.0, "sampling temperature")
    top_p: float = opt(1.0, "nucleus sampling threshold")
    gather_zero3_for_generation: bool = opt(
        True, "ZeRO-3: gather the full weights once per rollout (fast; one full copy per rank) "
        "instead of layer by layer at every decoded token")
    engine: Literal["hf", "vllm"] = opt("hf", "sampler: hf (gpg-vl's own decode loop, the reference) or vllm "
                                              "(one in-process vLLM engine per training process, weights synced "
                                              "after every optimizer step; pip install gpg-vl[vllm])")
    vllm: VllmConfig = field(default_factory=VllmConfig, metadata={"help": "the colocated vLLM engine"})
    importance_correction: Literal["none", "tis"] = opt(
        "none", "tis: weight the policy-gradient term by min(pi_train / pi_sampler, tis_cap) per token, the "
                "truncated importance sampling of Yao et al. 2025 (vllm engine only)")
    tis_cap: float = opt(2.0, "cap C of the truncated importance weight (verl's default)")


@dataclass
class RewardSpec:
    name: str = opt(help="registered verifier name or path/to/file.py:function")
    weight: float = opt(1.0, "weight of this component in the total reward")
    tasks: list[str] | None = opt(None, "apply only to samples whose `task` is listed (None: all)")
    options: dict = opt({}, "keyword options bound to the verifier (e.g. mode, frame)")


ALGORITHM_OPTIONS = ("adv_scale", "use_alpha", "aggregation", "clip_eps", "kl_beta")
"""AlgorithmConfig fields that are an algorithm's own options (null: the algorithm's default)."""


def registered_algorithms() -> list[str]:
    """The names ``algorithm.name`` accepts (imported late: the registry needs torch)."""
    from gpg_vl.algorithms import ALGORITHMS

    return list(ALGORITHMS)


@dataclass
class AlgorithmConfig:
    name: str = opt("gpg", "policy-gradient rule, a registered algorithm: gpg; grpo / dr_grpo are baselines",
                    choices=registered_algorithms)
    adv_scale: Literal["none", "std"] | None = opt(None, "gpg: F_norm, 1 (none, the default) or the group's std")
    use_alpha: bool | None = opt(None, "rescale by alpha = B / (B - M) for degenerate groups; null: on for gpg, "
                                       "off for grpo / dr_grpo (the paper's code applies it only with --adjust_gd)")
    beta_th: float | None = opt(None, "GPG: draw prompts until this fraction of samples is in valid groups")
    max_draws: int = opt(4, "most prompt draws per step when beta_th is set")
    aggregation: Literal["token-mean", "seq-mean"] | None = opt(
        None, "gpg: loss aggregation over tokens (null: token-mean); grpo averages per sequence, dr_grpo "
              "divides by the generation cap")
    clip_eps: float | None = opt(None, "grpo / dr_grpo: ratio clip (null: 0.2)")
    kl_beta: float | None = opt(None, "grpo: KL weight to the reference model (null: 0.04)")

    def __post_init__(self):
        self.options()  # an unknown name or an option the algorithm does not take stops here

    def options(self):
        """The algorithm's typed options: the ones set here, the record's defaults for the rest."""
        from gpg_vl.algorithms import ALGORITHMS

        given = {k: getattr(self, k) for k in ALGORITHM_OPTIONS if getattr(self, k) is not None}
        if self.name not in ALGORITHMS:
            raise ValueError(f"'algorithm.name' must be one of {sorted(ALGORITHMS)} (the registered algorithms), "
                             f"got {self.name!r}")
        return ALGORITHMS[self.name].resolve(given)


@dataclass
class WarmupConfig:
    steps: int = opt(0, "supervised warm-up steps before RL (0: none)")
    lr: float = opt(1e-3, "warm-up learning rate")
    batch_size: int = opt(16, "warm-up prompts per step")
    random_answers: bool = opt(True, "teach the answer format with random answers (starts RL at chance)")
    target_template: str = opt("<answer>{answer}</answer>", "completion the warm-up teaches")


@dataclass
class TrainConfig:
    output_dir: str | None = opt(None, "where logs, checkpoints and the final model go (required; a fresh run "
                                       "refuses a folder holding an earlier run: see train.overwrite)")
    overwrite: bool = opt(False, "a fresh run replaces an earlier run's final/, metrics and checkpoints in "
                                 "train.output_dir (gpg-vl train --overwrite) instead of refusing")
    allow_change: list[str] = opt([], "keys (or sections, e.g. data) a resumed run may change from the "
                                      "checkpoint's config (gpg-vl train --allow-change KEY)")
    seed: int = opt(0, "seed for data order, sampling and initialisation")
    steps: int | None = opt(100, "optimizer steps (null when train.epochs sets them)")
    epochs: float | None = opt(None, "passes over the loaded training rows: steps = ceil(epochs x rows / "
                                     "prompts_per_step), rows counted after data.limit and skipped rows; "
                                     "needs train.steps=null")
    prompts_per_step: int = opt(16, "prompts per step over all ranks (each sampled G times)")
    micro_batch_size: int = opt(32, "sequences per forward/backward in the update")
    lr: float = opt(1e-4, "peak learning rate (AdamW)")
    vision_lr: float | None = opt(None, "peak learning rate of the vision tower (patch embed, blocks, merger), "
                                        "on the same schedule; null: train.lr (model.freeze_vision freezes it)")
    weight_decay: float = opt(0.0, "AdamW weight decay")
    adam_betas: list[float] = opt([0.9, 0.999], "AdamW betas")
    warmup_steps: int = opt(0, "linear learning-rate warm-up steps")
    lr_schedule: Literal["constant", "linear", "cosine"] = opt("constant", "decay after warm-up")
    max_grad_norm: float = opt(1.0, "gradient-norm clip (0: off)")
    log_every: int = opt(1, "log every N steps")
    save_every: int = opt(0, "save a checkpoint every N steps, and always at the end (0: only at the end)")
    eval_every: int = opt(0, "evaluate on data.test every N steps (0: before and after only)")
    eval_limit: int | None = opt(None, "evaluate on at most this many test rows")
    tensorboard: bool = opt(True, "write TensorBoard event files (false drops tensorboard from report_to)")
    report_to: list[str] = opt(["tensorboard", "jsonl"], "where metrics go: any of tensorboard, jsonl, wandb, "
                                                         "swanlab (wandb/swanlab: pip install the library; "
                                                         "WANDB_MODE=offline works without an account)")
    log_samples_every: int = opt(50, "every N steps (and at step 1) log a table of sample prompts, completions "
                                     "and rewards to report_to (samples.jsonl, TensorBoard text, wandb table); "
                                     "0: never")
    log_samples: int = opt(8, "rows in each samples table")
    resume_from: str | None = opt(None, "resume: 'auto' (latest complete checkpoint in output_dir) or a path")
    keep_last: int = opt(3, "keep the newest N checkpoints (0: keep all)")
    max_consecutive_skips: int = opt(10, "stop after this many consecutive non-finite steps")
    max_no_update_steps: int = opt(20, "stop after this many consecutive steps without an update (every "
                                       "group degenerate: all G rewards equal); a warning names the reason")

    def total_steps(self, num_rows: int) -> int:
        """The run's optimizer steps: ``steps``, or ceil(epochs x rows / prompts_per_step).

        The one place the step count is resolved (scheduler, loop, logs and resume all use it).
        Rounded to 9 digits before the ceiling, so 2 x 15000 / 4 is 7500, not 7501.
        """
        if self.epochs is None:
            return self.steps
        return max(1, math.ceil(round(self.epochs * num_rows / self.prompts_per_step, 9)))


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "the policy"})
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": "training data"})
    rollout: RolloutConfig = field(default_factory=RolloutConfig, metadata={"help": "sampling"})
    rewards: list[RewardSpec] = field(default_factory=list, metadata={"help": "reward components"})
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig, metadata={"help": "GPG settings"})
    warmup: WarmupConfig = field(default_factory=WarmupConfig, metadata={"help": "SFT warm-up"})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"help": "optimisation"})

    def __post_init__(self):
        g = self.rollout.num_generations
        if g < 2:
            raise ValueError(f"rollout.num_generations must be >= 2 (group statistics), got {g}")
        if self.algorithm.beta_th is not None and not 0.0 < self.algorithm.beta_th <= 1.0:
            raise ValueError(f"algorithm.beta_th must be in (0, 1], got {self.algorithm.beta_th}")
        if self.rollout.max_new_tokens < 1:
            raise ValueError(f"rollout.max_new_tokens must be >= 1, got {self.rollout.max_new_tokens}")
        if self.algorithm.max_draws < 1:
            raise ValueError(f"algorithm.max_draws must be >= 1, got {self.algorithm.max_draws}")
        if self.train.prompts_per_step < 1 or self.train.micro_batch_size < 1:
            raise ValueError("train.prompts_per_step and train.micro_batch_size must be >= 1")
        check_rollout_engine(self.rollout)
        check_step_count(self.train)
        unknown = [r for r in self.train.report_to if r not in REPORT_TO]
        if unknown:
            raise ValueError(f"train.report_to: unknown {unknown}; choose from {list(REPORT_TO)}")
        check_prompt_settings(self.data)
        check_values(self)


def check_rollout_engine(rollout: RolloutConfig) -> None:
    """vLLM settings in range; importance correction needs a sampler of its own."""
    v = rollout.vllm
    if not 0.0 < v.gpu_memory_utilization <= 1.0:
        raise ValueError(f"rollout.vllm.gpu_memory_utilization must be in (0, 1], got {v.gpu_memory_utilization}")
    if v.tensor_parallel_size < 1:
        raise ValueError(f"rollout.vllm.tensor_parallel_size must be >= 1, got {v.tensor_parallel_size}")
    if rollout.importance_correction == "tis" and rollout.engine != "vllm":
        raise ValueError("rollout.importance_correction=tis corrects vLLM's sampling: set rollout.engine=vllm "
                         "(the hf engine samples from the trainer's own weights)")
    if rollout.tis_cap < 1.0:
        raise ValueError(f"rollout.tis_cap must be >= 1, got {rollout.tis_cap}")


def check_step_count(train: TrainConfig) -> None:
    """Exactly one of train.steps and train.epochs owns the step count (issue 5)."""
    steps, epochs = train.steps, train.epochs
    if steps is not None and epochs is not None:
        raise ValueError(f"train.steps={steps} and train.epochs={epochs:g} both set the number of steps; "
                         "set train.steps=null to train by epochs, or train.epochs=null to train by steps")
    if steps is None and epochs is None:
        raise ValueError("set train.steps or train.epochs (both are null)")
    if steps is not None and steps < 0:
        raise ValueError(f"train.steps must be >= 0, got {steps}")
    if epochs is not None and not (math.isfinite(epochs) and epochs > 0):
        raise ValueError(f"train.epochs must be a positive number, got {epochs}")


def check_prompt_settings(data: DataConfig) -> None:
    """The template fits the format ({image} once in raw, never in chat); a raw prompt has no
    system message; lengths are positive."""
    check_prompt_template(data.prompt_template, data.prompt_format)
    if data.prompt_format == "raw" and data.system_prompt is not None:
        raise ValueError("data.system_prompt needs data.prompt_format=chat: a raw prompt has no system "
                         "message (write the text into data.prompt_template instead)")
    if data.max_prompt_length is not None and data.max_prompt_length < 1:
        raise ValueError(f"data.max_prompt_length must be >= 1, got {data.max_prompt_length}")
