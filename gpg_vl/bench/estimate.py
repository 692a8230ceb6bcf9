"""Scaling on paper (issue 6, item 4): FLOPs, bytes, memory and time of a GPG step for released
Qwen-VL models on 8 x H100, for gpg-vl and for a trainer that repeats every prompt G times.

``python -m gpg_vl.bench.estimate`` prints the tables of docs/performance.md. Everything is
arithmetic on the released configurations (parameter counts are checked against the real
transformers classes in tests/bench); nothing here was measured on a GPU.

Conventions: a forward costs 2 FLOPs per parameter per token plus attention (4 x layers x
context x attention width per token); backward costs twice the forward; bf16 weights and
activations; optimizer states as DeepSpeed mixed precision (2 + 2 + 12 bytes per parameter).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

H100 = dict(peak_flops=989e12, hbm_bytes_per_s=3.35e12, memory_gb=80, nvlink_bytes_per_s=450e9)
MFU = 0.4  # assumed fraction of peak reached by compute-bound phases (prefill, vision, update)


@dataclass(frozen=True)
class ModelSpec:
    """The sizes of a released Qwen-VL checkpoint that cost depends on."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int  # SwiGLU width (3 matrices)
    vocab: int
    tied: bool
    v_depth: int = 32
    v_hidden: int = 1280
    v_intermediate: int = 5120
    v_mlp_mats: int = 2  # Qwen2-VL: GELU MLP (2 matrices); Qwen2.5-VL: SwiGLU (3)
    v_window: int | None = None  # patches per attention window (Qwen2.5-VL: 112 px = 8 x 8)
    v_full_layers: int = 32  # vision blocks with full (not windowed) attention

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def llm_layer_params(self) -> int:
        kv = self.kv_heads * self.head_dim
        attn = 2 * self.hidden * self.hidden + 2 * self.hidden * kv + self.hidden + 2 * kv  # q, o, k, v (+ biases)
        return attn + 3 * self.hidden * self.intermediate + 2 * self.hidden

    def vision_params(self) -> int:
        d = self.v_hidden
        block = 4 * d * d + 4 * d + self.v_mlp_mats * d * self.v_intermediate + 2 * d
        merger = (4 * d) ** 2 + 4 * d * self.hidden  # 2 x 2 patch merge MLP into the LLM width
        return self.v_depth * block + 3 * 2 * 14 * 14 * d + merger

    def params(self) -> dict[str, int]:
        embed = self.vocab * self.hidden
        return {"vision": self.vision_params(), "llm_layers": self.layers * self.llm_layer_params(),
                "embed": embed, "head": 0 if self.tied else embed}

    def kv_bytes_per_token(self) -> int:
        return self.layers * 2 * self.kv_heads * self.head_dim * 2


QWEN2_VL_2B = ModelSpec("Qwen2-VL-2B", layers=28, hidden=1536, heads=12, kv_heads=2, intermediate=8960,
                        vocab=151_936, tied=True)
QWEN2_5_VL_7B = ModelSpec("Qwen2.5-VL-7B", layers=28, hidden=3584, heads=28, kv_heads=4, intermediate=18944,
                          vocab=152_064, tied=False, v_intermediate=3420, v_mlp_mats=3, v_window=64,
                          v_full_layers=4)


@dataclass(frozen=True)
class StepShape:
    """One GPU's share of a step: prompts, G, image side, prompt text and completion tokens."""

    prompts: int = 8  # per GPU (64 over 8 GPUs)
    g: int = 8
    image_side: int = 448
    text_tokens: int = 64
    completion: int = 512
    micro_batch: int = 8  # completions per update forward (one group)

    @property
    def patches(self) -> int:
        return (self.image_side // 14) ** 2

    @property
    def prompt_tokens(self) -> int:
        return self.patches // 4 + self.text_tokens


def vision_flops(m: ModelSpec, patches: int) -> float:
    """Forward FLOPs of encoding one image of ``patches`` patches."""
    d = m.v_hidden
    matmul = 2 * patches * m.v_depth * (4 * d * d + m.v_mlp_mats * d * m.v_intermediate)
    window = min(patches, m.v_window or patches)
    attn = 4 * patches * d * (m.v_full_layers * patches + (m.v_depth - m.v_full_layers) * window)
    merger = 2 * (patches // 4) * ((4 * d) ** 2 + 4 * d * m.hidden)
    return matmul + attn + merger


def llm_flops(m: ModelSpec, tokens: float, context: float) -> float:
    """Forward FLOPs of ``tokens`` positions attending to ``context`` positions on average."""
    return tokens * (2 * m.layers * m.llm_layer_params() + 4 * m.layers * context * m.hidden)


def head_flops(m: ModelSpec, positions: float) -> float:
    return 2 * positions * m.vocab * m.hidden


def phase_costs(m: ModelSpec, s: StepShape, repeat: bool, train_vision: bool = True) -> dict[str, float]:
    """FLOPs (and decode bytes) of one GPU's generation and update; ``repeat``: a repeat-G trainer."""
    n = s.prompts * s.g  # completions
    encoded = n if repeat else s.prompts  # images encoded (and prompts prefilled) per pass
    p, c = s.prompt_tokens, s.completion
    vis = encoded * vision_flops(m, s.patches)
    prefill = llm_flops(m, encoded * p, p / 2)
    decode = llm_flops(m, n * c, p + c / 2) + head_flops(m, n * c)
    weights = 2 * (m.params()["llm_layers"] + m.vocab * m.hidden)  # every decode step reads layers + head
    decode_bytes = c * weights + n * c * (p + c / 2) * m.kv_bytes_per_token()
    upd_prompt = llm_flops(m, encoded * p, p / 2)
    upd_completion = llm_flops(m, n * c, p + c / 2) + head_flops(m, n * c)
    upd_vision = vis * (3 if train_vision else 1)
    return {"gen_vision": vis, "gen_prefill": prefill, "gen_decode": decode, "gen_decode_bytes": decode_bytes,
            "upd_vision": upd_vision, "upd_prompt": 3 * upd_prompt, "upd_completion": 3 * upd_completion,
            "gen_flops": vis + prefill + decode, "upd_flops": upd_vision + 3 * (upd_prompt + upd_completion)}


def phase_seconds(costs: dict[str, float], s: StepShape, hw: dict = H100, mfu: float = MFU) -> dict[str, float]:
    """Time bounds: compute-bound parts at ``mfu`` x peak, decoding at HBM bandwidth (its roofline)."""
    compute = mfu * hw["peak_flops"]
    decode_compute = costs["gen_decode"] / hw["peak_flops"]
    decode_memory = costs["gen_decode_bytes"] / hw["hbm_bytes_per_s"]
    return {"gen_vision_prefill": (costs["gen_vision"] + costs["gen_prefill"]) / compute,
            "gen_decode": max(decode_compute, decode_memory), "decode_bound": "memory" if decode_memory > decode_compute
            else "compute", "update": costs["upd_flops"] / compute}


def memory_gb(m: ModelSpec, s: StepShape, zero: int, gpus: int = 8, repeat: bool = False,
              checkpointing: bool = False, chunk_tokens: int | None = 1024) -> dict[str, float]:
    """Per-GPU memory of the update: model states under ZeRO-2/3 and one micro-batch's activations."""
    total = sum(m.params().values())
    weights, grads, optim = 2 * total, 2 * total, 12 * total
    states = (weights + (grads + optim) / gpus) if zero == 2 else (weights + grads + optim) / gpus
    d, i, kv = m.hidden, m.intermediate, m.kv_heads * m.head_dim
    per_token = m.layers * 2 * (d if checkpointing else 7 * d + 2 * kv + 4 * i)  # bytes saved per token
    per_patch = m.v_depth * 2 * (m.v_hidden if checkpointing else 9 * m.v_hidden + m.v_mlp_mats * m.v_intermediate)
    images = s.micro_batch if repeat else math.ceil(s.micro_batch / s.g)  # one group per micro-batch
    tokens = images * s.prompt_tokens + s.micro_batch * s.completion
    logit_rows = s.micro_batch * s.completion if chunk_tokens is None else min(chunk_tokens, s.micro_batch * s.completion)
    acts = tokens * per_token + images * s.patches * per_patch + 2 * logit_rows * m.vocab * 4
    kv_cache = s.prompts * s.g * (s.prompt_tokens + s.completion) * m.kv_bytes_per_token()  # generation
    return {"states": states / 1e9, "activations": acts / 1e9, "gen_kv_cache": kv_cache / 1e9,
            "update_total": (states + acts) / 1e9}


def _row(label, values, fmt="{:.1f}") -> str:
    return f"| {label} | " + " | ".join(fmt.format(v) for v in values) + " |"


def tables(models=(QWEN2_VL_2B, QWEN2_5_VL_7B), base: StepShape = StepShape()) -> str:
    """The Markdown tables of docs/performance.md."""
    out = []
    for m in models:
        p = m.params()
        out += [f"### {m.name} ({sum(p.values()) / 1e9:.2f} B parameters: vision {p['vision'] / 1e9:.2f} B, "
                f"LLM layers {p['llm_layers'] / 1e9:.2f} B, embeddings + head {(p['embed'] + p['head']) / 1e9:.2f} B)",
                "", "| per GPU, one step | repeat-G trainer | gpg-vl | gpg-vl / repeat |", "| --- | ---: | ---: | ---: |"]
        rep, ours = phase_costs(m, base, True), phase_costs(m, base, False)
        for key, label in [("gen_vision", "generation: vision TFLOP"), ("gen_prefill", "generation: prefill TFLOP"),
                           ("gen_decode", "generation: decode TFLOP"), ("gen_decode_bytes", "generation: decode GB read"),
                           ("upd_vision", "update: vision TFLOP (fwd+bwd)"), ("upd_prompt", "update: prompt TFLOP"),
                           ("upd_completion", "update: completion TFLOP"), ("upd_flops", "update: total TFLOP")]:
            out.append(_row(label, [rep[key] / 1e12 if "bytes" not in key else rep[key] / 1e9,
                                    ours[key] / 1e12 if "bytes" not in key else ours[key] / 1e9,
                                    ours[key] / rep[key]], "{:.3g}"))
        t_rep, t_ours = phase_seconds(rep, base), phase_seconds(ours, base)
        for key, label in [("gen_vision_prefill", "s: vision + prefill (compute-bound)"),
                           ("gen_decode", f"s: decode ({t_ours['decode_bound']}-bound roofline)"),
                           ("update", "s: update (compute-bound)")]:
            out.append(_row(label, [t_rep[key], t_ours[key], t_ours[key] / t_rep[key]], "{:.3g}"))
        out += ["", "| memory per GPU (GB) | ZeRO-2 repeat | ZeRO-2 gpg-vl | ZeRO-3 repeat | ZeRO-3 gpg-vl |",
                "| --- | ---: | ---: | ---: | ---: |"]
        mems = [memory_gb(m, base, z, repeat=r, chunk_tokens=None if r else 1024) for z in (2, 3) for r in (True, False)]
        for key, label in [("states", "model + optimizer states"), ("activations", "activations, one micro-batch"),
                           ("gen_kv_cache", "generation KV cache"), ("update_total", "update peak (states + activations)")]:
            out.append(_row(label, [mm[key] for mm in mems]))
        mems_ck = [memory_gb(m, base, z, repeat=r, checkpointing=True, chunk_tokens=None if r else 1024)
                   for z in (2, 3) for r in (True, False)]
        out.append(_row("update peak, gradient checkpointing", [mm["update_total"] for mm in mems_ck]))
        out.append("")
        out += scaling(m, base)
    return "\n".join(out)


def scaling(m: ModelSpec, base: StepShape) -> list[str]:
    """Update and generation seconds as G, image side and completion length vary."""
    out = ["| vary one setting | gen s repeat | gen s gpg-vl | update s repeat | update s gpg-vl | update ratio |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for label, shape in ([(f"G = {g}", replace(base, g=g)) for g in (4, 8, 16)]
                         + [(f"image {px} px", replace(base, image_side=px)) for px in (224, 448, 896)]
                         + [(f"completion {c}", replace(base, completion=c)) for c in (64, 256, 1024)]):
        t = [phase_seconds(phase_costs(m, shape, r), shape) for r in (True, False)]
        gen = [x["gen_vision_prefill"] + x["gen_decode"] for x in t]
        out.append(_row(label, [gen[0], gen[1], t[0]["update"], t[1]["update"], t[1]["update"] / t[0]["update"]],
                        "{:.3g}"))
    return out + [""]


if __name__ == "__main__":
    print(tables())
