#!/usr/bin/env bash
# Sets up if needed, then runs `gpg-vl bench`: the same workload through gpg-vl and through TRL's
# GRPOTrainer (beta = 0), each side in its own process, and prints medians and ratios.
# Arguments go to `gpg-vl bench`, e.g.
#   bash scripts/bench.sh --workload small --steps 5 --out runs/bench/small.json
# With no arguments it runs both workloads and writes runs/bench/{tiny,small}.json.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
GPG_VL="${GPG_VL_VENV:-$ROOT/.venv}/bin/gpg-vl"
if [ "$#" -gt 0 ]; then
  exec nice -n 5 "$GPG_VL" bench "$@"
fi
for workload in tiny small; do
  nice -n 5 "$GPG_VL" bench --workload "$workload" --steps 5 --threads 1 --out "runs/bench/$workload.json"
done
