"""The embedded demo: a tiny local Qwen2-VL learns synthetic visual tasks with GPG, on CPU.

Builds the tiny model and the synthetic data (unless already there), runs ``configs/demo.yaml``
(format warm-up on random answers, then GPG), evaluates before and after on the held-out split,
and writes ``report.json``, ``report.md`` and ``reward.png`` into the output folder.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
# report key -> (task, reward component) in the evaluation's by_task table
REPORT_KEYS = {"classification": ("classification", "classification"),
               "counting": ("counting", "counting"),
               "grounding_miou": ("grounding", "grounding_iou")}


def headline(evaluation: dict | None) -> dict:
    """The three demo figures from an evaluation's per-task table."""
    by_task = (evaluation or {}).get("by_task", {})
    return {key: by_task.get(task, {}).get(comp) for key, (task, comp) in REPORT_KEYS.items()}


def moving_average(values: list[float], window: int = 10) -> list[float]:
    """Trailing mean over up to ``window`` steps, ignoring NaN (a task absent from a step)."""
    out = []
    for i in range(len(values)):
        recent = [v for v in values[max(0, i - window + 1):i + 1] if v == v]
        out.append(sum(recent) / len(recent) if recent else float("nan"))
    return out


def write_plot(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = list(range(1, len(history) + 1))
    fig, ax = plt.subplots(figsize=(7, 4))
    total = [h["reward"] for h in history]
    ax.plot(steps, total, color="C0", lw=0.8, alpha=0.35)
    ax.plot(steps, moving_average(total), color="C0", lw=2.2, label="total reward")
    for i, key in enumerate(sorted(k for k in history[0] if k.startswith("reward/")), start=1):
        ax.plot(steps, moving_average([h[key] for h in history]), color=f"C{i}", lw=1.3,
                label=key.split("/", 1)[1])
    ax.set_xlabel("GPG step")
    ax.set_ylabel("mean reward (moving average over 10 steps)")
    ax.set_title("gpg-vl demo: reward per step")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_markdown(report: dict, path: Path) -> None:
    lines = ["# gpg-vl demo report", "",
             f"{report['steps']} GPG steps, {report['wall_seconds']:.0f} s wall time in all.", "",
             "| metric | before | after |", "| --- | --- | --- |"]
    for key in REPORT_KEYS:
        b, a = report["before"].get(key), report["after"].get(key)
        lines.append(f"| {key} | {b:.3f} | {a:.3f} |" if b is not None and a is not None else f"| {key} | - | - |")
    lines += ["", "![reward per step](reward.png)", ""]
    path.write_text("\n".join(lines))


def prepare_assets(out: Path, seed: int) -> list[str]:
    """Build the tiny policy and the synthetic data under ``out`` (unless already there), both
    from ``seed``; returns the config overrides that point a run at them."""
    from gpg_vl.data.synthetic import make_synthetic, tokenizer_corpus
    from gpg_vl.models.tiny import build_tiny

    model_dir, data_dir = out / "tiny-model", out / "data"
    if not (model_dir / "config.json").exists():
        build_tiny(model_dir, family="qwen2_vl", seed=seed, corpus=tokenizer_corpus())
        print(f"built the tiny policy in {model_dir}")
    if not (data_dir / "test.jsonl").exists():
        make_synthetic(data_dir, seed=seed)
        print(f"made synthetic data in {data_dir}")
    return [f"model.path={model_dir}", f"data.train={data_dir / 'train.jsonl'}",
            f"data.test={data_dir / 'test.jsonl'}"]


def run_demo(out_dir: str = "runs/demo", config: str | None = None, overrides: list[str] = ()) -> dict:
    from gpg_vl.config import Config, load_config
    from gpg_vl.trainer.loop import train

    t0 = time.perf_counter()
    out = Path(out_dir)
    cfg = load_config(Config, config or DEFAULT_CONFIG, [f"train.output_dir={out}", *overrides])
    cfg = load_config(Config, config or DEFAULT_CONFIG,
                      [*prepare_assets(out, cfg.train.seed), f"train.output_dir={out}", *overrides])
    summary = train(cfg)
    report = {"before": headline(summary["before"]), "after": headline(summary["after"]),
              "steps": summary["steps"], "wall_seconds": time.perf_counter() - t0,
              "skipped_steps": summary["skipped_steps"]}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    write_plot(summary["history"], out / "reward.png")
    write_markdown(report, out / "report.md")
    print(json.dumps(report, indent=2))
    return report
