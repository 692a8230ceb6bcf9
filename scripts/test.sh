#!/usr/bin/env bash
# Sets up if needed, then runs the test suite (CPU). Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` for the fast subset.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "${GPG_VL_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
