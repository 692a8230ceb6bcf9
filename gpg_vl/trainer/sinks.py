"""Where metrics go (``train.report_to``): each through its library's own client.

- ``jsonl``: ``metrics.jsonl`` (one strict-JSON object per logged step: NaN and infinities are
  null) and ``samples.jsonl`` (the sample tables);
- ``tensorboard``: ``torch.utils.tensorboard`` scalars, and each sample table as a Markdown text;
- ``wandb``: ``wandb.init(dir=OUTPUT_DIR)`` (``WANDB_MODE=offline`` works without an account),
  scalars and a ``wandb.Table`` per sample table;
- ``swanlab``: ``swanlab.init(logdir=OUTPUT_DIR/swanlog)`` (``mode="offline"`` or
  ``SWANLAB_MODE``), scalars and the table as text.

A missing optional library is an error at start-up naming the extra to install
(``pip install 'gpg-vl[wandb]'``), never a crash at the first log.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from gpg_vl.config.schema import REPORT_TO  # the one list of backends


def strict(value):
    """A JSON-safe value: NaN/inf -> None, tensors and numpy scalars -> Python numbers."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def scalars(row: dict) -> dict[str, float]:
    """The finite numeric entries of a metrics row (step and time left out)."""
    return {k: float(v) for k, v in row.items() if k not in ("step", "time") and isinstance(v, (int, float))
            and not isinstance(v, bool) and math.isfinite(v)}


def check_report_to(report_to: list[str]) -> None:
    """Known backends, and their libraries importable (checked before anything is written)."""
    unknown = [r for r in report_to if r not in REPORT_TO]
    if unknown:
        raise ValueError(f"train.report_to: unknown {unknown}; choose from {list(REPORT_TO)}")
    for name in ("wandb", "swanlab"):
        if name in report_to:
            try:
                __import__(name)
            except ImportError:
                raise ValueError(f"train.report_to lists {name}, which is not installed: "
                                 f"pip install '{name}' (or gpg-vl's extra: pip install -e '.[{name}]')") from None


class JsonlSink:
    def __init__(self, out: Path, append: bool):
        mode = "a" if append else "w"  # a resumed run continues its log
        self.metrics = (out / "metrics.jsonl").open(mode)
        self.samples_path = out / "samples.jsonl"
        self.append = append

    def log(self, step: int, row: dict) -> None:
        self.metrics.write(json.dumps(strict(row), allow_nan=False) + "\n")
        self.metrics.flush()

    def table(self, step: int, rows: list[dict]) -> None:
        with self.samples_path.open("a") as f:
            for r in rows:
                f.write(json.dumps(strict({"step": step, **r}), allow_nan=False, default=str) + "\n")

    def close(self) -> None:
        self.metrics.close()


class TensorBoardSink:
    def __init__(self, out: Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        # A resumed run repeats the steps a killed run logged after its last checkpoint:
        # purge_step makes TensorBoard's reader hide every earlier event from that step on.
        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=purge_step)

    def log(self, step: int, row: dict) -> None:
        for k, v in scalars(row).items():
            self.writer.add_scalar(k, v, step)

    def table(self, step: int, rows: list[dict]) -> None:
        self.writer.add_text("samples", markdown_table(rows), step)

    def close(self) -> None:
        self.writer.close()


class WandbSink:
    def __init__(self, out: Path, config: dict, name: str):
        import wandb

        self.wandb = wandb
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "gpg-vl"), name=name, config=config,
                              dir=str(out), resume="allow")

    def log(self, step: int, row: dict) -> None:
        self.run.log(scalars(row), step=step)

    def table(self, step: int, rows: list[dict]) -> None:
        columns = list(rows[0])
        table = self.wandb.Table(columns=columns, data=[[_cell(r.get(c)) for c in columns] for r in rows])
        self.run.log({"samples": table}, step=step)

    def close(self) -> None:
        self.run.finish()


class SwanlabSink:
    def __init__(self, out: Path, config: dict, name: str):
        import swanlab

        self.swanlab = swanlab
        self.run = swanlab.init(project=os.environ.get("SWANLAB_PROJECT", "gpg-vl"), experiment_name=name,
                                config=config, logdir=str(out / "swanlog"))

    def log(self, step: int, row: dict) -> None:
        self.swanlab.log(scalars(row), step=step)

    def table(self, step: int, rows: list[dict]) -> None:
        self.swanlab.log({"samples": self.swanlab.Text(markdown_table(rows))}, step=step)

    def close(self) -> None:
        self.swanlab.finish()


def make_sinks(report_to: list[str], out: Path, *, append: bool, config: dict, first_step: int = 0) -> list:
    check_report_to(report_to)
    name = out.resolve().name
    sinks = []
    for backend in dict.fromkeys(report_to):  # each once, in the order given
        if backend == "jsonl":
            sinks.append(JsonlSink(out, append))
        elif backend == "tensorboard":
            sinks.append(TensorBoardSink(out, purge_step=first_step + 1 if append else None))
        elif backend == "wandb":
            sinks.append(WandbSink(out, config, name))
        elif backend == "swanlab":
            sinks.append(SwanlabSink(out, config, name))
    return sinks


def _cell(value):
    value = strict(value)
    return value if isinstance(value, (int, float, str)) or value is None else json.dumps(value, default=str)


def markdown_table(rows: list[dict], width: int = 300) -> str:
    """Rows as a Markdown table, each cell on one line and cut to ``width`` characters."""
    if not rows:
        return ""
    columns = list(rows[0])

    def cell(v) -> str:
        text = str(_cell(v)).replace("\n", " ").replace("|", "\\|")
        return text if len(text) <= width else text[: width - 1] + "…"
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
