"""The ``gpg-vl compare`` figure: training reward and evaluation curves per variant, with the
mean over seeds as a line and the min-max over seeds as a band.

Plain data in (``gpg_vl.compare`` extracts it from the runs), one PNG out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


def band(curves: list[list[float]]) -> tuple[list[float], list[float], list[float]]:
    """Pointwise (mean, min, max) over seeds of curves that share their x values; a curve
    shorter than the longest (a run stopped early) simply stops counting; NaN is skipped."""
    mean, lo, hi = [], [], []
    for i in range(max((len(c) for c in curves), default=0)):
        vals = [c[i] for c in curves if i < len(c) and not math.isnan(c[i])]
        mean.append(sum(vals) / len(vals) if vals else math.nan)
        lo.append(min(vals) if vals else math.nan)
        hi.append(max(vals) if vals else math.nan)
    return mean, lo, hi


@dataclass
class VariantCurves:
    """One variant's curves, one entry per seed that finished."""

    name: str
    rewards: list[list[float]] = field(default_factory=list)  # per seed: reward per step
    evals: dict[str, list[tuple[list[int], list[float]]]] = field(default_factory=dict)  # task -> per seed (steps, values)

    @property
    def seeds(self) -> int:
        return len(self.rewards)


def write_plot(curves: list[VariantCurves], path, window: int = 10) -> None:
    """One PNG: panel 1 the training reward (moving average over ``window`` steps), then one panel
    per task of the held-out evaluation; each variant's mean over seeds with its min-max band."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gpg_vl.demo import moving_average

    tasks = sorted({t for c in curves for t in c.evals})
    fig, axes = plt.subplots(1, 1 + len(tasks), figsize=(4.2 * (1 + len(tasks)), 3.6), squeeze=False)
    axes = axes[0]
    for i, c in enumerate(curves):
        colour = f"C{i}"
        mean, lo, hi = band([moving_average(r, window) for r in c.rewards])
        steps = list(range(1, len(mean) + 1))
        axes[0].plot(steps, mean, color=colour, lw=1.8, label=f"{c.name} ({c.seeds} seeds)" if c.seeds
                     else f"{c.name} (failed)")
        axes[0].fill_between(steps, lo, hi, color=colour, alpha=0.18, lw=0)
        for ax, task in zip(axes[1:], tasks):
            series = c.evals.get(task, [])
            if not series:
                continue
            xs = max((s[0] for s in series), key=len)
            mean, lo, hi = band([s[1] for s in series])
            ax.plot(xs[:len(mean)], mean, color=colour, lw=1.8, marker="o", ms=3)
            ax.fill_between(xs[:len(mean)], lo, hi, color=colour, alpha=0.18, lw=0)
    axes[0].set_title(f"training reward ({window}-step mean)")
    axes[0].legend(fontsize=7)
    for ax, task in zip(axes[1:], tasks):
        ax.set_title(f"eval: {task}")
        ax.set_ylim(-0.02, 1.02)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle("mean over seeds; band = min-max over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
