#!/usr/bin/env bash
# GPG on SAT spatial multiple choice: the paper's VisualThinker-R1-Zero experiment (Qwen2-VL-2B;
# CV-Bench 76.15 with GPG vs 59.47 with GRPO). Reward: format + choice. Evaluate with
# scripts/eval_cvbench.sh. Recipes: configs/sat_{qwen2vl_2b,qwen25vl_3b}.yaml. See
# docs/recipes.md; `--help` lists every option.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

TASK=sat
TASK_TITLE="SAT spatial multiple choice (array/SAT, VisualThinker-R1-Zero), format + choice rewards"
TASK_DATA_HELP="default: the config's array/SAT (first 15,000 rows); VisualThinker's
                                      SAT_train_15000.json is read too (the anchor's exact set)"
DATA_REQUIRED=0
train_main "$@"
