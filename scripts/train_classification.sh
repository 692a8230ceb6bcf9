#!/usr/bin/env bash
# GPG on Visual-RFT's 4-shot fine-grained classification: the paper's Visual-RFT classification
# experiment (Qwen2-VL-2B-Instruct; 4-shot average 89.0 with GPG vs 81.9 with GRPO).
# Reward: format + classification. --subset picks the data set and its step count (the anchor
# scripts train 8 epochs, Pets37 24). Recipes: configs/classification_{qwen2vl_2b,qwen25vl_3b,
# qwen25vl_7b}.yaml. See docs/recipes.md; `--help` lists every option.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

# subset -> "hub id  steps". Steps = epochs x rows / 16 prompts per step (the configs'
# train.prompts_per_step), epochs from undyingjoker/GPG_OPENRS Visual-RFT/src/scripts/2B_*_4_shot.sh,
# rows = 4 shots x classes [assumed]. Another prompts_per_step needs train.steps=... as well.
declare -A SUBSETS=(
    [flowers]="laolao77/ViRFT_CLS_flower_4_shot 204"        # 8 epochs x 408 (102 classes)
    [pets]="laolao77/ViRFT_CLS_pets37_4shot 222"            # 24 epochs x 148 (37 classes)
    [aircraft]="laolao77/ViRFT_CLS_fgvc_aircraft_4_shot 200" # 8 epochs x 400 (100 classes)
    [cars]="laolao77/ViRFT_CLS_car196_4shot 392"            # 8 epochs x 784 (196 classes)
)
SUBSET="${SUBSET:-flowers}"

TASK=classification
TASK_TITLE="Visual-RFT 4-shot fine-grained classification, format + classification rewards"
TASK_DATA_HELP="default: the --subset's hub set (a local copy of it works too)"
TASK_OPTIONS_HELP="Task:
  --subset NAME         [SUBSET]      flowers (default) | pets | aircraft | cars: data set and steps
"
DATA_REQUIRED=0

task_option() {  # --subset NAME
    [[ "$1" == --subset ]] || return 1
    SUBSET="$2"
}

task_overrides() {
    [[ -n "${SUBSETS[$SUBSET]:-}" ]] || _die_usage "--subset must be one of: ${!SUBSETS[*]}; got '$SUBSET'"
    local hub steps
    read -r hub steps <<<"${SUBSETS[$SUBSET]}"
    [[ -n "$DATA" ]] || DATA="$hub"
    TASK_OVERRIDES+=("train.steps=$steps")
}

train_main "$@"
