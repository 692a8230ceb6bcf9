#!/usr/bin/env bash
# GPG on LISA reasoning grounding as Visual-RFT trains it: the paper's Visual-RFT LISA experiment
# (Qwen2-VL-2B-Instruct; mIoU test 51.8 with GPG vs 37.6 with GRPO). Reward: format + box IoU.
# Recipes: configs/grounding_{qwen2vl_2b,qwen25vl_3b,qwen25vl_7b}.yaml. See docs/recipes.md;
# `--help` lists every option.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

TASK=grounding
TASK_TITLE="LISA reasoning grounding (Visual-RFT), format + grounding_iou rewards"
TASK_DATA_HELP="Visual-RFT's lisa_train_sft.json (required; images resolve against its folder,
                                      or pass data.image_root=DIR)"
DATA_REQUIRED=1
train_main "$@"
