"""The output folder's contract: a fresh run never clobbers an earlier one; a resume continues the
same run.

:func:`plan_output` runs before anything is loaded or written (read-only, on every rank): it picks
the checkpoint to resume from (falling back past damaged ones), refuses a fresh run into a folder
that holds an earlier run's results unless ``train.overwrite``, and refuses a resume whose config
changes the run (seed, data, G, lr, algorithm, ...) unless the key is in ``train.allow_change``.
:func:`apply_output_plan` then (main rank, after the data and weights loaded) clears what an
overwrite replaces, cuts ``metrics.jsonl`` and ``samples.jsonl`` back to the resumed step and
writes ``config.json``: the config that actually runs.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from gpg_vl.errors import ConfigError
from gpg_vl.config import to_dict
from gpg_vl.trainer.checkpoint import CheckpointError, complete_checkpoints, find_resume_checkpoint, read_state

# What a run writes into its folder; any of them means "an earlier run lives here".
RUN_ARTEFACTS = ("final", "checkpoints", "metrics.jsonl", "samples.jsonl", "summary.json", "tensorboard")
# Keys a resumed run may change freely: where and how often it logs, saves and evaluates, and how
# long it runs (train.steps may extend a run; epochs-based counts are checked on their own).
HARMLESS_CHANGES = ("train.steps", "train.output_dir", "train.resume_from", "train.overwrite",
                    "train.allow_change", "train.log_every", "train.save_every", "train.eval_every",
                    "train.eval_limit", "train.tensorboard", "train.keep_last", "train.max_consecutive_skips",
                    "train.max_no_update_steps", "data.test", "rollout.gather_zero3_for_generation",
                    "model.attn_implementation")


class OutputDirError(ConfigError):
    """A run that would clobber, or silently diverge from, what its output folder holds."""


@dataclass
class OutputPlan:
    out: Path
    checkpoint: Path | None  # resume from here, or start fresh
    clear: bool  # remove an earlier run's artefacts before starting (overwrite, or auto with none intact)
    resumed_step: int = 0


def previous_artefacts(out: Path) -> list[str]:
    """An earlier run's results found in ``out`` (checkpoints named by the newest)."""
    found = [name for name in RUN_ARTEFACTS if (out / name).exists()]
    done = complete_checkpoints(out / "checkpoints")
    return [f"checkpoints (newest: {done[-1].name})" if name == "checkpoints" and done else name
            for name in found]


def plan_output(cfg) -> OutputPlan:
    """Decide fresh / resume / overwrite for ``cfg`` and refuse what would clobber; writes nothing."""
    t = cfg.train
    out = Path(t.output_dir)
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"train.output_dir={out} exists and is not a folder")
    ckpt = find_resume_checkpoint(t.resume_from, str(out)) if not t.overwrite else None
    found = previous_artefacts(out)
    if ckpt is None:
        if found and not t.overwrite and t.resume_from != "auto":
            raise OutputDirError(
                f"{out} already holds an earlier run ({', '.join(found)}): set train.resume_from=auto to "
                "continue it, pass --overwrite (train.overwrite=true) to replace it, or choose another "
                "train.output_dir")
        return OutputPlan(out, None, clear=bool(found))
    state = read_state(ckpt)
    saved = state.get("config")
    if saved is None and (out / "config.json").is_file():
        saved = json.loads((out / "config.json").read_text())
    if saved is not None:
        check_resume_config(saved, to_dict(cfg), t.allow_change, ckpt)
    return OutputPlan(out, ckpt, clear=False, resumed_step=int(state["step"]))


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): value}


def _allowed(key: str, allowed) -> bool:
    return any(key == a or key.startswith(a + ".") for a in (*HARMLESS_CHANGES, *allowed))


def check_resume_config(saved: dict, new: dict, allowed, ckpt: Path) -> None:
    """Refuse a resume whose config alters the run, naming every changed key and how to allow it."""
    old, cur = _flatten(saved), _flatten(new)
    if (old.get("train.vision_lr") is None) != (cur.get("train.vision_lr") is None):
        # One optimizer parameter group or two: the checkpoint's optimizer state cannot load.
        raise OutputDirError(f"resuming {ckpt} with train.vision_lr {old.get('train.vision_lr')} -> "
                             f"{cur.get('train.vision_lr')}: the vision tower's own rate splits the optimizer "
                             "state in two, so it can change between values but not to or from null")
    changed = sorted(k for k in old.keys() | cur.keys()
                     if old.get(k) != cur.get(k) and not _allowed(k, allowed))
    if changed:
        shown = ", ".join(f"{k}: {_brief(old.get(k))} -> {_brief(cur.get(k))}" for k in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        flags = " ".join(f"--allow-change {k}" for k in changed)
        raise OutputDirError(f"resuming {ckpt} with a config that changes the run ({shown}{more}); "
                             f"keep the checkpoint's values, or allow the change with {flags}")


def _brief(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def apply_output_plan(plan: OutputPlan, cfg) -> None:
    """Main rank, before training: clear an overwritten run, cut the logs to the resumed step,
    record the config that runs."""
    plan.out.mkdir(parents=True, exist_ok=True)
    if plan.clear:
        for name in RUN_ARTEFACTS:
            path = plan.out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    else:
        for name in ("metrics.jsonl", "samples.jsonl"):  # TensorBoard: the sink's purge_step
            cut_metrics(plan.out / name, plan.resumed_step)
    (plan.out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))


def cut_metrics(path: Path, step: int) -> None:
    """Keep the whole JSON records of steps <= ``step`` (a killed run may have logged later steps,
    or a torn last line): a resumed run then logs every step exactly once."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # torn by a kill mid-write
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            kept.append(line)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    tmp.replace(path)


__all__ = ["CheckpointError", "OutputDirError", "OutputPlan", "plan_output", "apply_output_plan",
           "check_resume_config", "cut_metrics", "previous_artefacts"]
