#!/usr/bin/env bash
# Evaluate a checkpoint on R1-V's GeoQA test set (answers compared by value with the math
# verifier; R1-V's prompt). Pairs with scripts/train_geoqa.sh.
# `--help` lists the options; docs/recipes.md says which training recipe each benchmark pairs with.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

BENCHMARK=geoqa
BENCH_TITLE="GeoQA test (R1-V's direct-answer split, 735 questions)"
BENCH_DATA_HELP="R1-V's src/eval/prompts/geoqa_test_prompts.jsonl, image paths resolving to Geo170K's images (required)"
BENCH_DATA_DEFAULT=""
eval_main "$@"
