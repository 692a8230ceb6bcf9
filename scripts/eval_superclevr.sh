#!/usr/bin/env bash
# Evaluate a checkpoint on R1-V's SuperCLEVR counting subset (integer answer match; R1-V's
# prompt): the out-of-distribution test of scripts/train_counting.sh.
# `--help` lists the options; docs/recipes.md says which training recipe each benchmark pairs with.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

BENCHMARK=superclevr
BENCH_TITLE="SuperCLEVR counting (R1-V's 200-question subset)"
BENCH_DATA_HELP="R1-V's src/eval/prompts/superclevr_test200_counting_problems.jsonl, with SuperCLEVR's images (required)"
BENCH_DATA_DEFAULT=""
eval_main "$@"
