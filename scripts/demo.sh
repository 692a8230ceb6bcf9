#!/usr/bin/env bash
# Sets up if needed, then runs the embedded demo: a tiny local Qwen2-VL learns synthetic visual
# tasks (colour classification, counting, grounding) with GPG on CPU, and writes
# runs/demo/report.json, report.md and reward.png. Extra arguments are config overrides,
# e.g. `bash scripts/demo.sh train.steps=50`; `--family qwen3_vl` (any of gpg_vl/families) runs
# it on a tiny model of that family instead. It runs on one torch thread, which makes a run give
# the same figures whatever the machine's load; `--threads N` trades that for speed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "${GPG_VL_VENV:-$ROOT/.venv}/bin/gpg-vl" demo --out "${DEMO_OUT:-runs/demo}" "$@"
