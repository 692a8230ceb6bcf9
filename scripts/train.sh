#!/usr/bin/env bash
# GPG training with any config: your own data (configs/custom.yaml by default, docs/own-data.md)
# or any file under configs/. The per-task scripts (train_geoqa.sh, ...) pick their recipe from
# the model name; this one takes --config (default configs/custom.yaml). `--help` lists every option.
#   bash scripts/train.sh --model Qwen/Qwen2.5-VL-3B-Instruct --data my.jsonl --output-dir runs/mine
#   bash scripts/train.sh --config configs/my.yaml --model ... --output-dir ... train.lr=5e-7
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

TASK=custom
TASK_TITLE="any config (default configs/custom.yaml: your own data, docs/own-data.md)"
TASK_DATA_HELP="training data: JSONL/Parquet/CSV, a datasets folder or a hub id (default: the config's data.train)"
DATA_REQUIRED=0
TASK_CONFIG_HELP="any YAML config (default: configs/custom.yaml)"
CONFIG="${CONFIG:-$GPG_VL_ROOT/configs/custom.yaml}"
train_main "$@"
