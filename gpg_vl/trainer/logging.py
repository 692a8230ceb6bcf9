"""Per-step metrics to the console (rich progress bar), a JSONL file and TensorBoard."""
from __future__ import annotations

import json
import time
from pathlib import Path

HEADLINE = ("reward", "valid_fraction", "alpha", "loss", "grad_norm", "completion_len", "step_seconds")


class MetricsLogger:
    """Writes ``metrics.jsonl`` (one object per logged step) and TensorBoard scalars."""

    def __init__(self, out_dir: str | Path, total_steps: int, enabled: bool = True,
                 tensorboard: bool = True, every: int = 1, append: bool = False):
        self.enabled, self.every, self.total = enabled, max(1, every), total_steps
        self.path = Path(out_dir) / "metrics.jsonl"
        self.writer = self.progress = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("a" if append else "w")  # a resumed run continues its log
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(Path(out_dir) / "tensorboard"))
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        self.progress = Progress(TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
                                 console=Console(soft_wrap=True))
        self.task = self.progress.add_task("", total=total_steps)
        self.progress.start()

    def log(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        row = {"step": step, "time": time.time(), **{k: _plain(v) for k, v in metrics.items()}}
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.writer is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k not in ("step", "time"):
                    self.writer.add_scalar(k, v, step)
        summary = " ".join(f"{k}={row[k]:.3g}" for k in HEADLINE if isinstance(row.get(k), (int, float)))
        self.progress.update(self.task, completed=step, description=summary)
        if step % self.every == 0 or step == self.total:
            self.progress.console.print(f"step {step}/{self.total} {summary}", soft_wrap=True, highlight=False)

    def close(self) -> None:
        if not self.enabled:
            return
        self.progress.stop()
        self.file.close()
        if self.writer is not None:
            self.writer.close()


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    return v
