"""``gpg-vl train --dry-run``: check a config's paths and names in seconds, load nothing heavy.

Checks that the model and data paths exist (a local folder or file; a hub id is looked up in
the local cache when ``HF_HUB_OFFLINE=1``), that every reward resolves to a verifier with
valid options, and that the ``train.report_to`` libraries are installed. Every problem is
listed in one error; a clean config prints what would run.
"""
from __future__ import annotations

import os
from pathlib import Path

from gpg_vl.config import Config
from gpg_vl.errors import ConfigError


DATA_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".arrow", ".py", ".yaml")


def looks_like_hub_id(name: str) -> bool:
    """``owner/name`` (``Qwen/Qwen2.5-VL-3B-Instruct``, ``lmms-lab/...``), not a path or a file."""
    parts = name.split("/")
    return (len(parts) == 2 and all(parts) and not name.startswith((".", "~"))
            and Path(name).suffix.lower() not in DATA_SUFFIXES)


def check_model(path: str) -> tuple[str | None, str]:
    """(problem or None, description) for ``model.path``."""
    local = Path(path).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            return f"model.path={path}: folder has no config.json (not a saved model)", ""
        return None, f"local folder {local.resolve()}"
    if local.exists() or not looks_like_hub_id(path):
        return f"model.path={path}: no such folder", ""
    return _hub("model.path", path, "model", "config.json")


def check_data(key: str, path: str | None) -> tuple[str | None, str]:
    if path is None:
        return None, "none"
    local = Path(path).expanduser()
    if local.exists():
        return None, f"local {'folder' if local.is_dir() else 'file'} {local.resolve()}"
    if not looks_like_hub_id(path):
        return f"{key}={path}: no such file or folder", ""
    return _hub(key, path, "dataset", None)


def _hub(key: str, name: str, repo_type: str, filename: str | None) -> tuple[str | None, str]:
    """A hub id: offline, it must be in the local cache; online it is not fetched here."""
    if os.environ.get("HF_HUB_OFFLINE") != "1":
        return None, f"hub id {name} (downloaded at start; not checked without loading)"
    from huggingface_hub import scan_cache_dir

    try:
        cached = {r.repo_id for r in scan_cache_dir().repos if r.repo_type == repo_type}
    except Exception:  # noqa: BLE001 -- no cache folder at all
        cached = set()
    if name not in cached:
        return (f"{key}={name}: HF_HUB_OFFLINE=1 and it is not in the local hub cache; download it "
                f"where the hub is reachable and set {key} to the local folder"), ""
    return None, f"hub id {name} (in the local cache)"


def dry_run(cfg: Config) -> str:
    """The report of a clean config; raises ConfigError listing every problem found."""
    from gpg_vl.trainer.sinks import check_report_to
    from gpg_vl.verifiers import get_verifier

    problems, lines = [], []
    for key, (problem, text) in (("model", check_model(cfg.model.path)),
                                 ("data.train", check_data("data.train", cfg.data.train)),
                                 ("data.test", check_data("data.test", cfg.data.test))):
        if problem:
            problems.append(problem)
        else:
            lines.append(f"  {key:<11} {text}")
    for spec in cfg.rewards:
        try:
            get_verifier(spec.name, **spec.options)
        except ValueError as exc:
            problems.append(f"rewards: {exc}")
    if not cfg.rewards:
        problems.append("no rewards: list at least one verifier under `rewards:`")
    try:
        check_report_to(cfg.train.report_to)
    except ValueError as exc:
        problems.append(str(exc))
    if cfg.train.output_dir is None:
        problems.append("train.output_dir is required (the folder for metrics, checkpoints and final/)")
    if problems:
        raise ConfigError("dry run found " + "; ".join(problems))
    lines.append(f"  {'rewards':<11} {', '.join(s.name for s in cfg.rewards)}")
    lines.append(f"  {'output':<11} {Path(cfg.train.output_dir).resolve()}")
    return "dry run OK (nothing loaded or written):\n" + "\n".join(lines)
