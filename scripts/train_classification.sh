#!/usr/bin/env bash
# GPG on Visual-RFT's 4-shot fine-grained classification: the paper's Visual-RFT classification
# experiment (Qwen2-VL-2B-Instruct; 4-shot average 89.0 with GPG vs 81.9 with GRPO).
# Reward: format + classification. --subset picks the data set and its epochs (the anchor
# scripts train 8 epochs, Pets37 24). Recipes: configs/classification_{qwen2vl_2b,qwen25vl_3b,
# qwen25vl_7b}.yaml. See docs/recipes.md; `--help` lists every option.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

# subset -> "hub id  epochs": --num_train_epochs of undyingjoker/GPG_OPENRS
# Visual-RFT/src/scripts/2B_*_4_shot.sh [S]. The trainer turns epochs into steps from the rows it
# loads: ceil(epochs x rows / train.prompts_per_step), so another prompts_per_step keeps the epochs.
# Expected steps at 16 prompts, with rows = 4 shots x classes [A], in the comments.
declare -A SUBSETS=(
    [flowers]="laolao77/ViRFT_CLS_flower_4_shot 8"          # 408 rows (102 classes): 204 steps
    [pets]="laolao77/ViRFT_CLS_pets37_4shot 24"             # 148 rows (37 classes): 222 steps
    [aircraft]="laolao77/ViRFT_CLS_fgvc_aircraft_4_shot 8"  # 400 rows (100 classes): 200 steps
    [cars]="laolao77/ViRFT_CLS_car196_4shot 8"              # 784 rows (196 classes): 392 steps
)
SUBSET="${SUBSET:-flowers}"

TASK=classification
TASK_TITLE="Visual-RFT 4-shot fine-grained classification, format + classification rewards"
TASK_DATA_HELP="default: the --subset's hub set (a local copy of it works too)"
TASK_OPTIONS_HELP="Task:
  --subset NAME         [SUBSET]      flowers (default) | pets | aircraft | cars: data set and epochs
"
DATA_REQUIRED=0

task_option() {  # --subset NAME
    [[ "$1" == --subset ]] || return 1
    SUBSET="$2"
}

task_overrides() {
    [[ -n "${SUBSETS[$SUBSET]:-}" ]] || _die_usage "--subset must be one of: ${!SUBSETS[*]}; got '$SUBSET'"
    local hub epochs
    read -r hub epochs <<<"${SUBSETS[$SUBSET]}"
    [[ -n "$DATA" ]] || DATA="$hub"
    TASK_OVERRIDES+=("train.epochs=$epochs")
}

train_main "$@"
