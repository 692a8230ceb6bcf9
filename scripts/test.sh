#!/usr/bin/env bash
# Sets up if needed, then runs the test suite (CPU). Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` for the fast subset.
# It also sets up .venv-vllm (scripts/setup_vllm.sh) and then runs, inside it (where the trainer
# and vLLM share one environment), the tests marked `vllm` that import it: tests/engines
# (rollout.engine=vllm, vLLM in process) and the LLM judge against a real vLLM server
# (tests/eval/test_eval_vllm_judge.py). The main suite loads exports in vLLM through
# .venv-vllm's python. GPG_VL_SKIP_VLLM=1 skips all of these.
#
# `bash scripts/test.sh --full`: the same, plus the long multi-process checks marked `full`
# (2-process vLLM kill-and-resume, vLLM weight sync under ZeRO-2), left out of the default run
# (which CI runs) to keep it under 15 minutes.
#
# `bash scripts/test.sh --latest [pytest args]`: the same suite in .venv-latest, installed from
# pyproject.toml's ranges without the lock (the newest releases they admit), so that drift in a
# dependency is seen here before it breaks a user; refresh the lock with scripts/lock.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VLLM_MARK="vllm and not full"
if [ "${1:-}" = "--full" ]; then
    shift
    VLLM_MARK="vllm"
fi
if [ "${1:-}" = "--latest" ]; then
    shift
    export GPG_VL_UNLOCKED=1 GPG_VL_VENV="$ROOT/.venv-latest"
fi
# The two environments take about 13 GB and a run's checkpoints and exports about 1 GB more: say
# so up front, since a full disk shows up later only as unrelated-looking errors in the suite.
# One line per file system (the repository and TMPDIR are usually on the same one).
df -Pk "$ROOT" "${TMPDIR:-/tmp}" | awk -v need=$((16 * 1024 * 1024)) 'NR > 1 && !seen[$6]++ && $4 < need {
    printf "warning: only %d MiB free on %s; setup and tests need about 16 GiB\n", $4 / 1024, $6 > "/dev/stderr" }'
bash "$ROOT/scripts/setup.sh"
if [ "${GPG_VL_SKIP_VLLM:-0}" != "1" ]; then
    bash "$ROOT/scripts/setup_vllm.sh"
fi
cd "$ROOT"
status=0
"${GPG_VL_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@" || status=$?
if [ "${GPG_VL_SKIP_VLLM:-0}" != "1" ] && [ -z "${GPG_VL_UNLOCKED:-}" ] && [ "$#" -eq 0 ]; then
    # a fixed 1 GiB KV cache: the CPU build otherwise sizes it from this whole process's memory
    VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}" "$ROOT/.venv-vllm/bin/python" -m pytest tests/engines \
        tests/eval/test_eval_vllm_judge.py -m "$VLLM_MARK" \
        || status=$?
fi
exit $status
