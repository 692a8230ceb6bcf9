#!/usr/bin/env bash
# GPG on SAT spatial multiple choice: the paper's VisualThinker-R1-Zero experiment (Qwen2-VL-2B;
# CV-Bench 76.15 with GPG vs 59.47 with GRPO). Reward: format + choice. Evaluate with
# scripts/eval_cvbench.sh. Recipes: configs/sat_{qwen2vl_2b,qwen2vl_2b_base,qwen25vl_3b}.yaml.
# A base checkpoint (a model name without "Instruct", e.g. Qwen/Qwen2-VL-2B, the anchor's) gets
# the _base recipe: a raw prompt ending in <think>, as VisualThinker's grpo.py gives base models.
# See docs/recipes.md; `--help` lists every option.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

# Whether --config (or CONFIG) chose the config; otherwise the model name does, below.
CONFIG_GIVEN=0
[[ -n "${CONFIG:-}" ]] && CONFIG_GIVEN=1
for arg in "$@"; do [[ "$arg" == --config || "$arg" == --config=* ]] && CONFIG_GIVEN=1; done

task_overrides() {  # a base model: configs/sat_<model>_base.yaml instead of the Instruct recipe
    [[ "$CONFIG_GIVEN" == 0 && "$("$GPG_VL_BIN/python" -m gpg_vl.families.recipes --is-base "$MODEL")" == yes ]] || return 0
    local base="$GPG_VL_ROOT/configs/sat_$(model_key "$MODEL")_base.yaml"
    [[ -f "$base" ]] || _die_usage "'$MODEL' looks like a base model (its name, gpg_vl/families) and there is no configs/$(basename "$base"); pass --config"
    CONFIG="$base"
}

TASK=sat
TASK_TITLE="SAT spatial multiple choice (array/SAT, VisualThinker-R1-Zero), format + choice rewards"
TASK_DATA_HELP="default: the config's array/SAT (first 15,000 rows); VisualThinker's
                                      SAT_train_15000.json is read too (the anchor's exact set)"
DATA_REQUIRED=0
train_main "$@"
