"""Checkpoints: Hugging Face exports (safetensors) and resumable training state, written atomically.

A checkpoint folder ``checkpoints/step-NNNNNN`` holds the policy and processor in Hugging Face
format (loadable by transformers and vLLM) and ``trainer_state/`` (optimizer, scheduler, RNG
states and the data position, through ``accelerator.save_state``, which also covers DeepSpeed).
Everything is written into ``step-NNNNNN.tmp`` and renamed when complete, so a crash mid-save
never leaves a folder that ``resume_from=auto`` would pick up.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from gpg_vl.errors import MissingInputError

STEP_DIR = re.compile(r"^step-(\d+)$")


def policy_state_dict(run) -> dict | None:
    """The policy's full state dict (gathered across ZeRO-3 shards); collective on all ranks."""
    state = run.accelerator.get_state_dict(run.model.logprob_model)
    if state is None:
        return None
    return {k[len("policy."):] if k.startswith("policy.") else k: v for k, v in state.items()}


def export_policy(run, out_dir: Path, merge_lora: bool = False) -> None:
    """Write the policy + processor in Hugging Face format into ``out_dir`` (main rank writes)."""
    lora = hasattr(run.model.policy, "get_base_model")
    state = None if lora else policy_state_dict(run)
    if not run.accelerator.is_main_process:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    model = run.model.policy
    if lora and merge_lora:
        model = model.merge_and_unload()  # final export: LoRA folded into the weights
        run.model.policy = model
    elif lora:
        model.save_pretrained(out_dir)  # a LoRA checkpoint: the adapters (small)
        run.model.processor.save_pretrained(out_dir)
        return
    drop_prefix_changes(model)
    if state is not None:
        model.save_pretrained(out_dir, state_dict=state, safe_serialization=True)
    else:
        model.save_pretrained(out_dir, safe_serialization=True)
    run.model.processor.save_pretrained(out_dir)


def drop_prefix_changes(model) -> None:
    """Save in the original checkpoint layout whatever path loaded the model.

    Loading under DeepSpeed ZeRO-3 records extra key transforms (a PrefixChange among them) that,
    reversed at save time, write ``model.model.*`` keys nothing loads. Without a record,
    transformers reverts with the family's default mapping, as for a plain load.
    """
    if getattr(model, "_weight_conversions", None) is not None:
        model._weight_conversions = None


def _finish(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def save_checkpoint(run, step: int, extra: dict) -> Path:
    """Export + training state for ``step``; then prune to ``train.keep_last``. Collective."""
    acc, root = run.accelerator, Path(run.cfg.train.output_dir) / "checkpoints"
    final, tmp = root / f"step-{step:06d}", root / f"step-{step:06d}.tmp"
    if acc.is_main_process:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    acc.wait_for_everyone()
    export_policy(run, tmp)
    acc.save_state(str(tmp / "trainer_state"))
    # Every rank writes its own random_states_<rank>.pkl into tmp; rename only after all have
    # (on several nodes a slower rank would otherwise write into a folder already renamed).
    acc.wait_for_everyone()
    if acc.is_main_process:
        (tmp / "gpg_vl_state.json").write_text(json.dumps({"step": step, **extra}, indent=2, default=str))
        _finish(tmp, final)
        prune(root, run.cfg.train.keep_last)
    acc.wait_for_everyone()
    return final


def complete_checkpoints(root: Path) -> list[Path]:
    """Finished checkpoints under ``root``, oldest first (``.tmp`` folders are never listed)."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := STEP_DIR.match(p.name)) and (p / "gpg_vl_state.json").exists()
             and (p / "trainer_state").is_dir()]
    return [p for _, p in sorted(found)]


def prune(root: Path, keep_last: int) -> None:
    if keep_last <= 0:
        return
    for old in complete_checkpoints(root)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)


def resolve_resume(resume_from: str | None, output_dir: str) -> Path | None:
    """``auto`` -> the newest complete checkpoint (or None); a path must be a complete one."""
    if not resume_from:
        return None
    if resume_from == "auto":
        done = complete_checkpoints(Path(output_dir) / "checkpoints")
        return done[-1] if done else None
    path = Path(resume_from)
    if not (path / "gpg_vl_state.json").exists() or not (path / "trainer_state").is_dir():
        raise MissingInputError(f"train.resume_from={resume_from}: not a complete gpg-vl checkpoint "
                                "(needs gpg_vl_state.json and trainer_state/)")
    return path


def load_checkpoint(run, path: Path) -> dict:
    """Restore weights, optimizer, scheduler, RNG and data position; returns the saved state."""
    run.accelerator.load_state(str(path / "trainer_state"))
    return json.loads((path / "gpg_vl_state.json").read_text())
