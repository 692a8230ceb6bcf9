"""Run both sides of a benchmark, each in its own process, and reduce them to medians and ratios.

Every figure is a median over the measured steps (the first ``warmup`` steps of each side are
run but not counted: they pay one-off costs such as allocator growth and lazy imports). Peak
memory is the whole process's peak resident set (and, on a GPU, torch's peak allocation).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from gpg_vl.bench.workload import Workload, prepare

SIDES = ("gpg_vl", "trl")
# Per-step figures reduced to medians, in table order: key -> label.
STEP_FIGURES = {
    "step_seconds": "step seconds",
    "gen_seconds": "generation seconds",
    "update_seconds": "update seconds",
    "patches": "vision patches encoded / step",
    "gen_patches": "  in generation",
    "update_patches": "  in the update",
    "vision_seconds": "vision-tower forward seconds / step",
    "gen_vision_seconds": "  in generation",
    "update_vision_seconds": "  in the update",
    "prompt_tokens": "prompt tokens prefilled / step",
    "gen_prompt_tokens": "  in generation",
    "update_prompt_tokens": "  in the update",
    "completion_tokens": "completion tokens / step",
}
PEAK_FIGURES = {"peak_rss_mb": "peak resident memory (MiB)", "peak_gpu_mb": "peak GPU memory (MiB)"}
RATIOS = ("step_seconds", "gen_seconds", "update_seconds", "patches", "vision_seconds", "prompt_tokens",
          "peak_rss_mb", "peak_gpu_mb")
STEP_TARGETS = {"small": 0.5, "tiny": 0.7}  # issue 6: gpg-vl / TRL median step time


def run_side(side: str, work: Workload, paths: dict, steps: int, threads: int) -> dict:
    """One side in a fresh interpreter; its JSON result, or {"error": ...} when it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory(prefix="gpg-vl-bench-") as tmp:
        spec, out = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec.write_text(json.dumps({"side": side, "workload": asdict(work), "paths": paths,
                                    "steps": steps, "threads": threads}))
        proc = subprocess.run([sys.executable, "-m", "gpg_vl.bench.side", str(spec), str(out)],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
            return {"error": f"{side} side exited with code {proc.returncode}: " + " | ".join(tail)}
        return json.loads(out.read_text())


def summarise(result: dict, warmup: int, work: Workload) -> dict:
    """Medians of the per-step figures after ``warmup`` steps, the peaks, and derived counts."""
    steps = result["steps"][warmup:] or result["steps"]
    out = {key: statistics.median(s.get(key, 0.0) for s in steps) for key in STEP_FIGURES}
    out.update({key: result.get(key) for key in PEAK_FIGURES})
    out["gen_patches_per_prompt"] = out["gen_patches"] / work.prompts_per_step
    out["measured_steps"] = len(steps)
    out["per_step"] = result["steps"]
    return out


def ratio(a, b) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


def targets(name: str, work: Workload, ours: dict, trl: dict | None, ratios: dict) -> dict:
    """Issue 6's targets that this run can check, each with its value and whether it is met."""
    out = {}
    if trl is not None and name in STEP_TARGETS:
        r = ratios["step_seconds"]
        out["step_seconds_ratio"] = {"value": r, "target": f"<= {STEP_TARGETS[name]}", "met": r <= STEP_TARGETS[name]}
    if trl is not None:
        r = ratios["peak_rss_mb"]
        out["peak_rss_ratio"] = {"value": r, "target": "<= 1", "met": r <= 1.0}
    # Encoded once per prompt: each phase encodes B prompts' patches, not B x G.
    per_prompt = ours["gen_patches_per_prompt"]
    sides = [work.patches_per_image(s) for s in work.image_sides]
    out["gen_patches_per_prompt"] = {"value": per_prompt, "target": f"one image's patches ({min(sides)}-{max(sides)})",
                                     "met": min(sides) <= per_prompt <= max(sides)}
    return out


def run_benchmark(work: Workload, steps: int, warmup: int, threads: int, root: str | Path,
                  sides: tuple[str, ...] = SIDES, log=print) -> dict:
    """Both sides on one workload; the dict that ``gpg-vl bench --out`` writes."""
    paths = prepare(work, root)
    raw = {}
    for side in sides:
        log(f"[bench] {work.name}: running {side} ({warmup} + {steps} steps, {threads} threads)")
        raw[side] = run_side(side, work, paths, warmup + steps, threads)
    ours = summarise(raw["gpg_vl"], warmup, work) if "error" not in raw.get("gpg_vl", {"error": 1}) else None
    if ours is None:
        raise RuntimeError(f"gpg-vl's side failed: {raw.get('gpg_vl', {}).get('error', 'not run')}")
    trl_raw = raw.get("trl", {"error": "not run (--side gpg_vl)"})
    trl = summarise(trl_raw, warmup, work) if "error" not in trl_raw else None
    ratios = {key: ratio(ours.get(key), trl.get(key)) for key in RATIOS} if trl else {}
    return {
        "workload": work.name, "settings": {**asdict(work), "steps": steps, "warmup": warmup, "threads": threads,
                                            "device": _device()},
        "gpg_vl": ours, "trl": trl, "paired": trl is not None,
        "trl_error": trl_raw.get("error"), "trl_version": trl_raw.get("trl_version"),
        "ratio": {"step_seconds": ratios.get("step_seconds"), "peak_rss": ratios.get("peak_rss_mb"),
                  **{k: v for k, v in ratios.items() if k not in ("step_seconds", "peak_rss_mb")}},
        "targets": targets(work.name, work, ours, trl, ratios),
    }


def resummarise(result: dict) -> dict:
    """A saved result with its medians recomputed from the per-step records (``--render``)."""
    settings = result["settings"]
    fields = {k: v for k, v in settings.items() if k in Workload.__dataclass_fields__}
    work = Workload(**{**fields, "image_sides": tuple(fields["image_sides"])})
    out = dict(result)
    for side in SIDES:
        if result.get(side):
            raw = {"steps": result[side]["per_step"], **{k: result[side].get(k) for k in PEAK_FIGURES}}
            out[side] = summarise(raw, settings["warmup"], work)
    return out


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({os.cpu_count()} cores visible)"


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return f"{int(v)}"


def format_table(result: dict) -> str:
    """The result as a Markdown table (gpg-vl | TRL | gpg-vl / TRL) with its setting and targets."""
    s, ours, trl = result["settings"], result["gpg_vl"], result["trl"] or {}
    rows = [f"workload `{result['workload']}` (engine {s.get('engine', 'hf')}): B = {s['prompts_per_step']} prompts x G = {s['num_generations']}, "
            f"{s['max_new_tokens']} new tokens, images {'/'.join(map(str, s['image_sides']))} px, "
            f"micro-batch {s['micro_batch_size']}, {s['threads']} threads, {s['device']}; "
            f"medians over {ours['measured_steps']} steps after {s['warmup']} warm-up",
            "", "| figure | gpg-vl | TRL GRPOTrainer | gpg-vl / TRL |", "| --- | ---: | ---: | ---: |"]
    pairs = {**STEP_FIGURES, **PEAK_FIGURES}
    ratio_of = {"peak_rss_mb": "peak_rss"}
    for key, label in pairs.items():
        if key == "peak_gpu_mb" and ours.get(key) is None:
            continue
        r = result["ratio"].get(ratio_of.get(key, key))
        rows.append(f"| {label} | {_fmt(ours.get(key))} | {_fmt(trl.get(key))} | {_fmt(r)} |")
    if not result["paired"]:
        rows += ["", f"UNPAIRED: TRL's side did not run ({result['trl_error']}); gpg-vl's figures stand alone."]
    rows += [""] + [f"- target {name}: {_fmt(t['value'])} (want {t['target']}): {'met' if t['met'] else 'MISSED'}"
                    for name, t in result["targets"].items()]
    return "\n".join(rows)
