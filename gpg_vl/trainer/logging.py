"""Per-step metrics to the console (a progress line with step, elapsed and ETA), to the
``train.report_to`` backends (``gpg_vl.trainer.sinks``), and every ``train.log_samples_every``
steps a table of sample prompts, completions and rewards (as TRL's ``log_completions`` and
EasyR1's generation log show them)."""
from __future__ import annotations

import math
import time
from pathlib import Path

from gpg_vl.console import ProgressLine
from gpg_vl.trainer.sinks import make_sinks

HEADLINE = ("reward", "valid_fraction", "alpha", "loss", "grad_norm", "completion_len", "step_seconds")
SHORT = {"valid_fraction": "valid", "completion_len": "len", "grad_norm": "gnorm", "step_seconds": "s/step"}


def skip_reason(metrics: dict) -> str | None:
    """Why a step changed no weights, in words (None: it did)."""
    if not metrics.get("skipped"):
        return None
    if metrics.get("nonfinite"):
        return "skipped: non-finite loss or gradient (no update)"
    if metrics.get("valid_fraction") == 0:
        return "skipped: every group's G rewards were equal (no signal)"
    return "skipped"


def headline(row: dict) -> str:
    """``reward=0.52 valid=0.75 ...``: the figures worth watching, short names."""
    parts = []
    for k in HEADLINE:
        v = row.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            parts.append(f"{SHORT.get(k, k)}={v:.3g}" if math.isfinite(v) else f"{SHORT.get(k, k)}=nan")
    if row.get("skipped_steps"):
        parts.append(f"skipped={row['skipped_steps']}")
    return " ".join(parts)


def sample_rows(batch: dict | None, limit: int) -> list[dict]:
    """The first ``limit`` rows of a scored batch: id, task, prompt, completion, answer, rewards."""
    if not batch or limit <= 0:
        return []
    rows = []
    for i in range(min(limit, len(batch["completions"]))):
        sample = batch["samples"][i]
        row = {"id": sample.get("id"), "task": sample.get("task"), "prompt": _text(batch["prompts"][i]),
               "completion": _text(batch["completions"][i]), "answer": sample.get("answer"),
               "reward": float(batch["rewards"][i])}
        row.update({name: float(values[i]) for name, values in batch["parts"].items()})
        rows.append(row)
    return rows


def _text(value) -> str:
    """A prompt or completion as text (the last message's text for conversational ones)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        content = value[-1].get("content", "")
        if isinstance(content, list):
            return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return str(content)
    return str(value)


class MetricsLogger:
    """Writes each logged step to every ``report_to`` backend and keeps the console line current."""

    def __init__(self, out_dir: str | Path, total_steps: int, enabled: bool = True, tensorboard: bool = True,
                 every: int = 1, append: bool = False, *, report_to: list[str] | None = None,
                 samples_every: int = 0, samples: int = 8, config: dict | None = None, first_step: int = 0):
        self.enabled, self.every, self.total = enabled, max(1, every), total_steps
        self.samples_every, self.samples = samples_every, samples
        self.out = Path(out_dir)
        self.sinks, self.progress = [], None
        self._skip_explained = False
        if not enabled:
            return
        backends = list(report_to if report_to is not None else ["jsonl", "tensorboard"])
        if not tensorboard:
            backends = [b for b in backends if b != "tensorboard"]
        self.out.mkdir(parents=True, exist_ok=True)
        self.sinks = make_sinks(backends, self.out, append=append, config=config or {}, first_step=first_step)
        self.progress = ProgressLine("step", total_steps, every=self.every, start_done=first_step)

    def log(self, step: int, metrics: dict, batch: dict | None = None) -> None:
        if not self.enabled:
            return
        row = {"step": step, "time": time.time(), **{k: _plain(v) for k, v in metrics.items()}}
        for sink in self.sinks:
            sink.log(step, row)
        if self.samples_every and (step % self.samples_every == 0 or step == 1):
            table = sample_rows(batch, self.samples)
            if table:
                for sink in self.sinks:
                    sink.table(step, table)
        summary = headline(row)
        reason = skip_reason(row)
        first_skip = bool(reason) and not self._skip_explained  # say once what a skipped step is
        self._skip_explained = self._skip_explained or bool(reason)
        due = step % self.every == 0 or step == self.total or first_skip
        line = summary + (f"  [{reason}]" if reason and due else "")
        if self.progress.tty:  # permanent lines every log_every steps, the live line always
            if due:
                self.progress.done, self.progress.detail = step, summary  # redrawn below the line
                self.progress.print(f"step {step}/{self.total} {line}")
            self.progress.update(step, summary)
        else:  # one plain line with elapsed and ETA every log_every steps (or 30 s)
            self.progress.update(step, line, force=first_skip)

    def close(self) -> None:
        if not self.enabled:
            return
        self.progress.close()
        for sink in self.sinks:
            sink.close()


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    return v
