"""The embedded demo: a tiny local policy (Qwen2-VL unless ``family`` says otherwise) learns
synthetic visual tasks with GPG, on CPU.

Builds the tiny model and the synthetic data (unless already there), runs ``configs/demo.yaml``
(format warm-up on random answers, then GPG), evaluates before and after on the held-out split,
and writes ``report.json``, ``report.md`` and ``reward.png`` into the output folder.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from gpg_vl.trainer.plots import moving_average, write_plot  # noqa: F401 -- the demo's figure, drawn by the trainer

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
# report key -> (task, reward component) in the evaluation's by_task table
REPORT_KEYS = {"classification": ("classification", "classification"),
               "counting": ("counting", "counting"),
               "grounding_miou": ("grounding", "grounding_iou")}


def headline(evaluation: dict | None) -> dict:
    """The three demo figures from an evaluation's per-task table."""
    by_task = (evaluation or {}).get("by_task", {})
    return {key: by_task.get(task, {}).get(comp) for key, (task, comp) in REPORT_KEYS.items()}


def write_markdown(report: dict, path: Path) -> None:
    lines = ["# gpg-vl demo report", "",
             f"{report['steps']} GPG steps, {report['wall_seconds']:.0f} s wall time in all.", "",
             "| metric | before | after |", "| --- | --- | --- |"]
    for key in REPORT_KEYS:
        b, a = report["before"].get(key), report["after"].get(key)
        lines.append(f"| {key} | {b:.3f} | {a:.3f} |" if b is not None and a is not None else f"| {key} | - | - |")
    lines += ["", "![reward per step](reward.png)", ""]
    path.write_text("\n".join(lines))


def pixel_overrides(family: str) -> list[str]:
    """Pixel limits that keep every synthetic image at 4 x 4 merged tokens of the family's size
    (112 px for patch 14, 128 px for patch 16; the synthetic grid is scaled with the image)."""
    from gpg_vl.data.synthetic import GRID
    from gpg_vl.families import get_family

    side = GRID * get_family(family).resize_factor
    return [f"model.min_pixels={side * side}", f"model.max_pixels={side * side}"]


def prepare_assets(out: Path, seed: int, family: str | None = None) -> list[str]:
    """Build the tiny policy of ``family`` (default: the first listed, Qwen2-VL) and the synthetic
    data under ``out`` (unless already there), both from ``seed``; returns the config overrides
    that point a run at them."""
    from gpg_vl.data.synthetic import make_synthetic, tokenizer_corpus
    from gpg_vl.families import FAMILIES
    from gpg_vl.models.tiny import build_tiny

    family = family or next(iter(FAMILIES))
    model_dir, data_dir = out / "tiny-model", out / "data"
    if not (model_dir / "config.json").exists():
        build_tiny(model_dir, family=family, seed=seed, corpus=tokenizer_corpus())
        print(f"built the tiny policy in {model_dir}")
    if not (data_dir / "test.jsonl").exists():
        make_synthetic(data_dir, seed=seed)
        print(f"made synthetic data in {data_dir}")
    return [f"model.path={model_dir}", f"data.train={data_dir / 'train.jsonl'}",
            f"data.test={data_dir / 'test.jsonl'}"]


def run_demo(out_dir: str = "runs/demo", config: str | None = None, overrides: list[str] = (),
             family: str | None = None, threads: int | None = None) -> dict:
    """``threads``: torch's CPU threads (default: torch's own). With 2 threads the same seed gave
    float-level differences from step 7 on a loaded machine, after which the run drifts like a
    new seed; with 1 thread nothing is summed across threads and runs were bit-identical on
    quiet and loaded machines, at about half the speed (docs/benchmarks.md)."""
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _run_demo(out_dir, config, overrides, family, torch.get_num_threads())
    finally:
        torch.set_num_threads(previous)  # in-process callers (tests) keep their own setting


def _run_demo(out_dir, config, overrides, family, threads) -> dict:
    from gpg_vl.config import Config, load_config
    from gpg_vl.families import FAMILIES
    from gpg_vl.trainer.loop import train

    family = family or next(iter(FAMILIES))  # Qwen2-VL, the demo's measured default
    t0 = time.perf_counter()
    out = Path(out_dir)
    cfg = load_config(Config, config or DEFAULT_CONFIG, [f"train.output_dir={out}", *overrides])  # the seed
    cfg = load_config(Config, config or DEFAULT_CONFIG,
                      [*prepare_assets(out, cfg.train.seed, family), *pixel_overrides(family),
                       f"train.output_dir={out}", "train.overwrite=true", *overrides])  # the demo folder is rebuilt
    summary = train(cfg)
    report = {"before": headline(summary["before"]), "after": headline(summary["after"]),
              "steps": summary["steps"], "wall_seconds": time.perf_counter() - t0,
              "skipped_steps": summary["skipped_steps"], "threads": threads}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    write_plot(summary["history"], out / "reward.png", title="gpg-vl demo: reward per step")
    write_markdown(report, out / "report.md")
    print(json.dumps(report, indent=2))
    return report
