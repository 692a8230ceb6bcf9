"""The benchmark workloads: one model, one data set and one step shape, shared by both trainers.

``tiny`` is the embedded demo's model (issue 2) on the demo's 112 px synthetic images; ``small``
is a model where vision matters (issue 6: 4 layers, hidden 256, vision depth 4, 224-448 px
images, G = 8); ``reasoning`` is the tiny model with 256-token completions, where decoding
dominates the step. ``engine`` picks the sampler on both sides alike: each trainer's own
generation (hf) or a colocated vLLM engine (gpg-vl ``rollout.engine=vllm``; TRL ``use_vllm=True,
vllm_mode="colocate"``). Both sides of a benchmark read the same saved checkpoint, the same JSONL rows
(the same PNG files) and the same reward function.

The reward is dense on purpose (``distinct_char_reward``): a random-weight policy scores zero on
the real verifiers, every group would be degenerate, and GPG would skip the whole update (a real
saving, but one that would make the comparison say nothing about the update's cost).
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from gpg_vl.data.synthetic import ANSWER_INSTRUCTION, DRAW, PROBLEMS, TASKS, tokenizer_corpus
from gpg_vl.errors import ConfigError

REWARD_SPEC = "gpg_vl.bench.workload:distinct_char_reward"  # a TRL-signature reward both sides call


@dataclass(frozen=True)
class Workload:
    """One benchmark setting; every value is used identically by gpg-vl and by TRL."""

    name: str
    family: str = "qwen2_vl"
    text: dict = field(default_factory=dict)  # overrides of models.tiny.TINY_TEXT
    vision: dict = field(default_factory=dict)  # overrides of models.tiny.TINY_VISION
    image_sides: tuple[int, ...] = (112,)  # square image sides in px (multiples of 28), drawn per row
    prompts_per_step: int = 8  # B: distinct prompts per optimizer step
    num_generations: int = 8  # G: completions per prompt
    max_new_tokens: int = 16  # maximum completion length
    micro_batch_size: int = 16  # completions per forward/backward in the update (both trainers)
    temperature: float = 1.0
    top_p: float = 1.0
    lr: float = 1e-5
    rows: int = 96  # data rows written (cycled through by both samplers)
    seed: int = 0
    engine: str = "hf"  # hf: each trainer's own generate; vllm: each with a colocated vLLM engine
    vllm_memory: float = 0.3  # gpu_memory_utilization of the colocated engine (both sides)

    @property
    def min_pixels(self) -> int:
        return min(self.image_sides) ** 2

    @property
    def max_pixels(self) -> int:
        return max(self.image_sides) ** 2

    def patches_per_image(self, side: int) -> int:
        return (side // 14) ** 2  # 14 px patches, temporal patch 2 over a repeated still image


WORKLOADS = {
    "tiny": Workload("tiny"),
    "small": Workload("small", vision=dict(depth=4, embed_dim=256, num_heads=4, mlp_ratio=2),
                      image_sides=(224, 336, 448), prompts_per_step=4, micro_batch_size=8),
    # reasoning-length completions (issue 11): decoding dominates the step, as in R1-style training
    "reasoning": Workload("reasoning", prompts_per_step=4, num_generations=8, max_new_tokens=256,
                          micro_batch_size=8),
}


def get_workload(name: str, **overrides) -> Workload:
    """A named workload with some fields replaced (``num_generations=16``...)."""
    if name not in WORKLOADS:
        raise ConfigError(f"unknown workload {name!r}; available: {', '.join(WORKLOADS)}")
    return replace(WORKLOADS[name], **{k: v for k, v in overrides.items() if v is not None})


def distinct_char_reward(prompts, completions, **columns) -> list[float]:
    """Distinct characters / (characters + 1) of each completion, in [0, 1).

    TRL's reward signature. Dense for a random policy (completions differ, so groups vary).
    """
    from gpg_vl.verifiers.parsing import completion_text

    texts = [completion_text(c) for c in completions]
    return [len(set(t)) / (len(t) + 1.0) for t in texts]


def _resized_row(task: str, side: int, rng: random.Random, k: int, img_dir: Path, rel_dir: str) -> dict:
    """One synthetic demo task drawn at 112 px, scaled to ``side`` px (nearest: shapes stay sharp)."""
    from PIL import Image

    img, fields = DRAW[task](rng)
    scale = side / img.width
    img = img.resize((side, side), Image.NEAREST)
    if "bbox" in fields:
        fields = {**fields, "bbox": [round(v * scale) for v in fields["bbox"]], "image_size": [side, side]}
    name = f"{task}_{k:05d}_{side}.png"
    img.save(img_dir / name)
    return {"id": f"bench-{task}-{k}", "images": [f"{rel_dir}/{name}"], "problem": PROBLEMS[task],
            "task": task, **fields}


def write_data(work: Workload, out_dir: Path) -> Path:
    """``rows`` synthetic rows (tasks interleaved, image sides drawn per row); returns the JSONL."""
    out_dir.mkdir(parents=True, exist_ok=True)
    img_dir = out_dir / "images"
    img_dir.mkdir(exist_ok=True)
    rng = random.Random(work.seed)
    rows = [_resized_row(TASKS[k % len(TASKS)], rng.choice(work.image_sides), rng, k, img_dir, "images")
            for k in range(work.rows)]
    path = out_dir / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def prepare(work: Workload, root: str | Path) -> dict:
    """Build (once) the workload's checkpoint and data under ``root``; returns their paths."""
    from gpg_vl.models.tiny import build_tiny

    root = Path(root)
    key = json.dumps({k: v for k, v in asdict(work).items()
                      if k in ("family", "text", "vision", "image_sides", "rows", "seed")}, sort_keys=True)
    folder = root / f"{work.name}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    model_dir, data_dir = folder / "model", folder / "data"
    if not (model_dir / "gpg_vl_tiny.json").exists():
        build_tiny(model_dir, family=work.family, seed=work.seed, corpus=tokenizer_corpus(),
                   text=work.text or None, vision=work.vision or None,
                   min_pixels=work.min_pixels, max_pixels=work.max_pixels)
    if not (data_dir / "train.jsonl").exists():
        write_data(work, data_dir)
    return {"model": str(model_dir), "data": str(data_dir / "train.jsonl")}


def prompt_text(row: dict) -> str:
    """The user text both trainers show (gpg-vl's ``data.prompt_template`` filled in)."""
    return row["problem"] + ANSWER_INSTRUCTION


PROMPT_TEMPLATE = "{problem}" + ANSWER_INSTRUCTION
