#!/usr/bin/env bash
# GPG on R1-V's CLEVR-70k counting set (not in the GPG paper: R1-V's GRPO recipe with the paper's
# GPG settings). Reward: format + counting. Evaluate with scripts/eval_superclevr.sh.
# Recipes: configs/counting_{qwen2vl_2b,qwen25vl_3b}.yaml. See docs/recipes.md;
# `--help` lists every option.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

TASK=counting
TASK_TITLE="CLEVR counting (R1-V leonardPKU/clevr_cogen_a_train), format + counting rewards"
TASK_DATA_HELP="default: the config's leonardPKU/clevr_cogen_a_train (hub id or a local copy)"
DATA_REQUIRED=0
train_main "$@"
