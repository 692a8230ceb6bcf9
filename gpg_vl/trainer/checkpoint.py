"""Save the policy and processor in Hugging Face format (safetensors), atomically.

A checkpoint is written to ``NAME.tmp`` and renamed when complete, so a crash mid-save never
leaves a folder that looks finished.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path


def save_policy(model, processor, out_dir: str | Path, meta: dict | None = None) -> Path:
    """Write model + processor (+ gpg_vl_meta.json) to ``out_dir`` via a temporary folder."""
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner.save_pretrained(tmp, safe_serialization=True)
    processor.save_pretrained(tmp)
    if meta is not None:
        (tmp / "gpg_vl_meta.json").write_text(json.dumps(meta, indent=2, default=str))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
