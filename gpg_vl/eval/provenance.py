"""What a run was: recorded in ``run.json``, ``summary.json`` and ``report.md``.

``generation_settings(args)`` are the values that decide the predictions (model, data, rows,
prompt, generation limits); a folder holding predictions made with other settings is refused
on resume (``--overwrite`` starts afresh). ``provenance(args)`` adds what identifies the code
and the command: gpg-vl version and git commit, the command line, the scoring protocol and
answer extractor.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

RUN_FILE = "run.json"
# argparse names of the options that decide what the model was asked and how it answered
GENERATION_KEYS = ("benchmark", "model", "data", "split", "limit", "image_root", "prompt_template",
                   "system_prompt", "prompt_format", "completion_prefix", "max_new_tokens",
                   "min_pixels", "max_pixels", "dtype")


class SettingsMismatch(Exception):
    """The output folder holds predictions made with other settings."""


def generation_settings(args) -> dict:
    settings = {key: getattr(args, key, None) for key in GENERATION_KEYS}
    settings["data"] = str(settings["data"]) if settings["data"] is not None else None
    settings["image_root"] = str(settings["image_root"]) if settings["image_root"] else None
    settings["decoding"] = "greedy"
    return settings


def _commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def _version() -> str:
    try:
        return metadata.version("gpg-vl")
    except metadata.PackageNotFoundError:
        return "unknown"


def provenance(args) -> dict:
    """Settings plus code identity, the command, protocol and extractor."""
    out = generation_settings(args) if getattr(args, "eval_action", None) != "score" else {
        "benchmark": args.benchmark, "predictions": str(args.predictions)}
    out.update(protocol=getattr(args, "protocol", "strict"), extractor=getattr(args, "extractor", "rules"),
               gpg_vl_version=_version(), commit=_commit(),
               command=" ".join(shlex.quote(a) for a in (["gpg-vl"] + sys.argv[1:])))
    return out


def check_resume(out_dir: Path, settings: dict, overwrite: bool) -> None:
    """Refuse to resume into ``out_dir`` when its recorded settings differ (or, without a
    record, when it already holds predictions); ``overwrite`` deletes the old predictions."""
    run_file = out_dir / RUN_FILE
    predictions = out_dir / "predictions.jsonl"
    if overwrite:
        for path in (run_file, predictions):
            path.unlink(missing_ok=True)
    elif run_file.is_file():
        recorded = json.loads(run_file.read_text(encoding="utf-8")).get("settings", {})
        changed = [f"{k}: {recorded.get(k)!r} -> {settings.get(k)!r}"
                   for k in settings if recorded.get(k) != settings.get(k)]
        if changed:
            raise SettingsMismatch(
                f"{out_dir} holds predictions made with other settings ({'; '.join(changed)}); "
                "use another --out, or --overwrite to start afresh")
    elif predictions.is_file() and predictions.stat().st_size:
        raise SettingsMismatch(f"{out_dir} holds predictions.jsonl without a {RUN_FILE} recording "
                               "how they were made; use another --out, or --overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps({"settings": settings}, indent=2, default=str) + "\n",
                        encoding="utf-8")


def rows_used(used: int, available: int) -> str:
    return f"{used} of {available}" if used != available else f"{used} (all)"
