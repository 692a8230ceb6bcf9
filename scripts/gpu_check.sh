#!/usr/bin/env bash
# One-GPU check at real sizes, under 8 minutes on one H100/H200 (planned; not yet run on a GPU):
# random-initialised Qwen2-VL-2B and Qwen2.5-VL-7B architectures (built here from the releases'
# config values, no hub), bf16, 4 prompts x G=8 x 512-token completions; prints rollout tokens/s,
# update MFU and peak GPU memory for gpg-vl (hf and vllm engines) and TRL's GRPOTrainer (HF
# generate, and use_vllm=True vllm_mode="colocate"). Runs in .venv-vllm (scripts/setup_vllm.sh),
# where gpg-vl, TRL and vLLM are installed together. Record its table in docs/benchmarks.md.
#
#   bash scripts/gpu_check.sh                       # everything (writes runs/gpu_check/)
#   bash scripts/gpu_check.sh --scale tiny --engines hf --max-new-tokens 8   # CPU dry run of the path
# GPG_VL_PEAK_TFLOPS sets the device's dense bf16 peak for MFU (default 989, H100/H200).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${GPG_VL_VENV:-$ROOT/.venv-vllm}/bin/python"
[ -x "$PY" ] || { echo "gpu_check: no $PY; run scripts/setup_vllm.sh first" >&2; exit 2; }
cd "$ROOT"
exec timeout "${GPU_CHECK_TIMEOUT:-480}" "$PY" -m gpg_vl.bench.gpu_check "$@"
