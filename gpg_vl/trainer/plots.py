"""The reward curves of a run as a PNG (``OUTPUT_DIR/reward.png``; the demo's figure)."""
from __future__ import annotations

import math
from pathlib import Path


def moving_average(values: list[float], window: int = 10) -> list[float]:
    """Trailing mean over up to ``window`` steps, ignoring NaN/None (a task absent from a step)."""
    out = []
    for i in range(len(values)):
        recent = [v for v in values[max(0, i - window + 1):i + 1] if v is not None and not math.isnan(v)]
        out.append(sum(recent) / len(recent) if recent else float("nan"))
    return out


def write_plot(history: list[dict], path: Path, title: str = "reward per step") -> Path | None:
    """Total reward (raw and a 10-step moving average) and each component's moving average per
    step; None (nothing written) without steps or without matplotlib."""
    rows = [h for h in history if isinstance(h.get("reward"), (int, float))]
    if not rows:
        return None
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h.get("step", i) for i, h in enumerate(rows, start=1)]
    fig, ax = plt.subplots(figsize=(7, 4))
    total = [h["reward"] for h in rows]
    ax.plot(steps, total, color="C0", lw=0.8, alpha=0.35)
    ax.plot(steps, moving_average(total), color="C0", lw=2.2, label="total reward")
    for i, key in enumerate(sorted(k for k in rows[0] if k.startswith("reward/")), start=1):
        ax.plot(steps, moving_average([h.get(key) for h in rows]), color=f"C{i}", lw=1.3,
                label=key.split("/", 1)[1])
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward (moving average over 10 steps)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
