#!/usr/bin/env bash
# Sets up if needed, then runs the test suite (CPU). Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` for the fast subset.
# It also sets up .venv-vllm (scripts/setup_vllm.sh) for the tests that load exports in vLLM,
# and then runs tests/engines (rollout.engine=vllm, vLLM in process) and the LLM judge against a
# real `vllm serve` (tests/eval/test_eval_vllm_judge.py) inside .venv-vllm, where the
# trainer and vLLM share one environment; GPG_VL_SKIP_VLLM=1 skips both, and those tests then skip.
#
# `bash scripts/test.sh --latest [pytest args]`: the same suite in .venv-latest, installed from
# pyproject.toml's ranges without the lock (the newest releases they admit), so that drift in a
# dependency is seen here before it breaks a user; refresh the lock with scripts/lock.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${1:-}" = "--latest" ]; then
    shift
    export GPG_VL_UNLOCKED=1 GPG_VL_VENV="$ROOT/.venv-latest"
fi
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
        tests/eval/test_eval_vllm_judge.py -m vllm \
        || status=$?
fi
exit $status
