#!/usr/bin/env bash
# Refreshes constraints.txt, the tested lock that scripts/setup.sh installs from.
#
# Run it on purpose (new releases, a new dependency), never from CI: it makes a throw-away venv,
# installs gpg-vl with its dev extras from pyproject.toml's ranges alone (the newest releases
# they allow), and freezes what resolved. Then run `bash scripts/test.sh` against the new lock and
# commit constraints.txt only if the suite passes. `bash scripts/test.sh --latest` does the same
# resolve in .venv-latest and runs the suite there without touching the lock.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install -q --upgrade pip
"$TMP/venv/bin/python" -m pip install -q "torch>=2.4" torchvision
"$TMP/venv/bin/python" -m pip install -q "$ROOT[dev]"
{
    echo "# The tested lock: scripts/setup.sh installs with -c constraints.txt."
    echo "# Refreshed by scripts/lock.sh on $(date -u +%Y-%m-%d) with $("$TMP/venv/bin/python" --version)."
    "$TMP/venv/bin/python" -m pip freeze --exclude-editable | grep -v -i -E "^(gpg-vl|gpg_vl)[ =@]"
} > "$ROOT/constraints.txt"
echo "[lock] wrote $ROOT/constraints.txt ($(grep -vc '^#' "$ROOT/constraints.txt") packages)"
