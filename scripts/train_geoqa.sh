#!/usr/bin/env bash
# GPG on R1-V's GeoQA-8K geometry set: the paper's R1-V experiment (Qwen2.5-VL-3B-Instruct;
# GEOQA test 51.33 with GPG vs 47.48 with GRPO). Reward: format + math (value comparison).
# Recipes: configs/geoqa_{qwen2vl_2b,qwen25vl_3b,qwen25vl_7b}.yaml. See docs/recipes.md;
# `--help` lists every option.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

TASK=geoqa
TASK_TITLE="GeoQA geometry (R1-V leonardPKU/GEOQA_R1V_Train_8K), format + math rewards"
TASK_DATA_HELP="default: the config's leonardPKU/GEOQA_R1V_Train_8K (hub id or a local copy)"
DATA_REQUIRED=0
train_main "$@"
