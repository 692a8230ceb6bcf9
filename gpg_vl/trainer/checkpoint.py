"""Checkpoints: Hugging Face exports (safetensors) and resumable training state, written atomically.

A checkpoint folder ``checkpoints/step-NNNNNN`` holds the policy and processor in Hugging Face
format (loadable by transformers and vLLM) and ``trainer_state/`` (optimizer, scheduler, RNG
states and the data position, through ``accelerator.save_state``, which also covers DeepSpeed).
Everything is written into ``step-NNNNNN.tmp``; ``manifest.json`` (every file's size and sha256)
is written last and the folder renamed when complete, so a crash mid-save never leaves a folder
that ``resume_from=auto`` would pick up. Resuming verifies the manifest, names a damaged file and
falls back to the newest intact checkpoint.
"""
from __future__ import annotations

import errno
import hashlib
import json
import re
import shutil
import warnings
from pathlib import Path

from gpg_vl.errors import MissingInputError, UserError

STEP_DIR = re.compile(r"^step-(\d+)$")
MANIFEST = "manifest.json"
STATE = "gpg_vl_state.json"


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be trusted or written, named with the file at fault."""


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path) -> None:
    """``manifest.json``: size and sha256 of every file in ``folder``; written last."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    entries = {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)} for p in files}
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"files": entries}, indent=1))
    tmp.rename(folder / MANIFEST)


def verify_checkpoint(folder: Path) -> str | None:
    """None when every file the manifest lists is there with its size and sha256; else what is wrong,
    naming the file."""
    try:
        entries = json.loads((folder / MANIFEST).read_text())["files"]
    except FileNotFoundError:
        return f"{folder / MANIFEST} is missing (the save did not finish)"
    except (ValueError, KeyError, TypeError):
        return f"{folder / MANIFEST} is unreadable"
    for name, meta in entries.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if path.stat().st_size != meta["size"]:
            return f"{path} has {path.stat().st_size} bytes, the manifest says {meta['size']} (truncated?)"
        if _sha256(path) != meta["sha256"]:
            return f"{path} does not match its sha256 in the manifest (overwritten or corrupt)"
    return None


def _out_of_space(exc: BaseException) -> bool:
    text = str(exc).lower()
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(
        s in text for s in ("no space left", "storagefull", "disk quota", "file write failed"))


def save_checkpoint(run, step: int, extra: dict) -> Path:
    """Export + training state for ``step``; then prune to ``train.keep_last``. Collective.

    Older checkpoints are pruned to keep_last - 1 (at least one) before writing, so the save has
    room; a save that runs out of disk removes its partial folder and stops with one line.
    """
    acc, root = run.accelerator, Path(run.cfg.train.output_dir) / "checkpoints"
    final, tmp = root / f"step-{step:06d}", root / f"step-{step:06d}.tmp"
    keep = run.cfg.train.keep_last
    if acc.is_main_process:
        if tmp.exists():
            shutil.rmtree(tmp)
        if keep > 0:
            prune(root, max(keep - 1, 1))
        tmp.mkdir(parents=True)
    acc.wait_for_everyone()
    try:
        export_policy(run, tmp)
        acc.save_state(str(tmp / "trainer_state"))
        # Every rank writes its own random_states_<rank>.pkl into tmp; rename only after all have
        # (on several nodes a slower rank would otherwise write into a folder already renamed).
        acc.wait_for_everyone()
        if acc.is_main_process:
            (tmp / STATE).write_text(json.dumps({"step": step, **extra}, indent=2, default=str))
            write_manifest(tmp)
            _finish(tmp, final)
    except Exception as exc:
        if not _out_of_space(exc):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        kept = [p.name for p in complete_checkpoints(root)]
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CheckpointError(f"saving checkpoint {final.name} failed: out of disk space in {root} ({reason}); "
                              f"the partial save was removed; intact checkpoints: {kept or 'none'}; free space "
                              "or lower train.keep_last, then resume with train.resume_from=auto") from None
    if acc.is_main_process:
        prune(root, keep)
    acc.wait_for_everyone()
    return final


def complete_checkpoints(root: Path) -> list[Path]:
    """Finished checkpoints under ``root`` (manifest written), oldest first; ``.tmp`` folders and
    saves killed before their manifest are never listed. Integrity is checked on resume."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := STEP_DIR.match(p.name)) and (p / MANIFEST).exists() and (p / STATE).exists()
             and (p / "trainer_state").is_dir()]
    return [p for _, p in sorted(found)]


def prune(root: Path, keep_last: int) -> None:
    """Keep the newest ``keep_last`` checkpoints (0: all). Each old one is first renamed to
    ``*.pruned`` (atomic), so a kill mid-delete never leaves a half-deleted folder that looks
    complete; leftovers of such kills are removed here too."""
    if not root.is_dir():
        return
    old = complete_checkpoints(root)[:-keep_last] if keep_last > 0 else []
    for path in old:
        path.rename(path.with_name(path.name + ".pruned"))
    for path in root.glob("step-*.pruned"):
        shutil.rmtree(path, ignore_errors=True)


def find_resume_checkpoint(resume_from: str | None, output_dir: str) -> Path | None:
    """``auto`` -> the newest intact checkpoint (damaged newer ones are named in a warning and
    passed over), or None when there is none at all; a path must be an intact checkpoint."""
    if not resume_from:
        return None
    if resume_from == "auto":
        done = complete_checkpoints(Path(output_dir) / "checkpoints")
        problems = []
        for path in reversed(done):
            problem = verify_checkpoint(path)
            if problem is None:
                if problems:
                    warnings.warn(f"resume: skipped damaged checkpoint(s): {'; '.join(problems)}; "
                                  f"falling back to {path.name}", RuntimeWarning, stacklevel=2)
                return path
            problems.append(problem)
        if problems:
            raise CheckpointError(f"train.resume_from=auto: no intact checkpoint in {output_dir}/checkpoints "
                                  f"({'; '.join(problems)})")
        return None
    path = Path(resume_from)
    if not (path / STATE).exists() or not (path / "trainer_state").is_dir():
        raise CheckpointError(f"train.resume_from={resume_from}: not a complete gpg-vl checkpoint "
                              f"(needs {STATE}, trainer_state/ and {MANIFEST})")
    problem = verify_checkpoint(path)
    if problem is not None:
        raise CheckpointError(f"train.resume_from={resume_from}: {problem}")
    return path


resolve_resume = find_resume_checkpoint


def read_state(path: Path) -> dict:
    """The checkpoint's ``gpg_vl_state.json`` (step, counters, the config it was trained with)."""
    return json.loads((path / STATE).read_text())


def load_checkpoint(run, path: Path) -> dict:
    """Restore weights, optimizer, scheduler, RNG and data position; returns the saved state."""
    run.accelerator.load_state(str(path / "trainer_state"))
    return read_state(path)
