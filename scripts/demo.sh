#!/usr/bin/env bash
# Sets up if needed, then runs the embedded demo: a tiny local Qwen2-VL learns synthetic visual
# tasks (colour classification, counting, grounding) with GPG on CPU, and writes
# runs/demo/report.json, report.md and reward.png. Extra arguments are config overrides,
# e.g. `bash scripts/demo.sh train.steps=50`; `--family qwen3_vl` (any of gpg_vl/families) runs
# it on a tiny model of that family instead; `--threads 1` makes a run give the same bits every
# time, whatever the machine's load (about half the speed on 2 cores).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
exec "${GPG_VL_VENV:-$ROOT/.venv}/bin/gpg-vl" demo --out "${DEMO_OUT:-runs/demo}" "$@"
