#!/usr/bin/env bash
# Idempotent set-up: makes .venv in the repo root and installs gpg-vl with its dev extras.
#
# Installs from the tested lock, constraints.txt (refreshed on purpose by scripts/lock.sh), so a
# fresh clone gets the releases the test suite passed with, not whatever is newest today.
# GPG_VL_UNLOCKED=1 resolves pyproject.toml's ranges alone (what `scripts/test.sh --latest` uses to
# see drift before it reaches users). Re-running is cheap: it reinstalls only when pyproject.toml
# or the lock changed since the last install.
# torch: the standard PyPI torch + torchvision pair (it runs on CPU too); a CPU-only torch
# wheel without a matching torchvision breaks qwen-vl-utils, so the pair is installed together.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GPG_VL_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.gpg_vl_installed"
if [ "${GPG_VL_UNLOCKED:-0}" = "1" ]; then LOCK=(); MODE="unlocked"
else LOCK=(-c "$ROOT/constraints.txt"); MODE="locked:$(sha256sum "$ROOT/constraints.txt" | cut -c1-16)"; fi
WANT="$MODE pyproject:$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV"
    "$PY" -m venv "$VENV"
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && "$VENV/bin/python" -c "import gpg_vl, torch, torchvision" 2>/dev/null; then
    exit 0
fi
echo "[setup] installing gpg-vl and its dependencies into $VENV ($MODE; first run takes a few minutes)"
"$VENV/bin/python" -m pip install -q --upgrade pip
# Install torch and torchvision in one resolve so their versions match.
"$VENV/bin/python" -m pip install -q "${LOCK[@]}" "torch>=2.4" torchvision
"$VENV/bin/python" -m pip install -q "${LOCK[@]}" -e "$ROOT[dev]"
"$VENV/bin/python" -c "import torch, torchvision, transformers, qwen_vl_utils; print('[setup] torch', torch.__version__, '| torchvision', torchvision.__version__, '| transformers', transformers.__version__)"
echo "$WANT" > "$STAMP"
