#!/usr/bin/env bash
# Evaluate a checkpoint on LISA reasoning grounding (mIoU, and accuracy at IoU >= 0.5; boxes in
# the model family's frame unless --box-frame). Pairs with scripts/train_grounding.sh.
# `--help` lists the options; docs/recipes.md says which training recipe each benchmark pairs with.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

BENCHMARK=lisa
BENCH_TITLE="LISA reasoning grounding (box IoU; correct at IoU >= 0.5)"
BENCH_DATA_HELP="Visual-RFT's lisa_test.json / lisa_val.json box annotations (gen_box_ann.py output; required)"
BENCH_DATA_DEFAULT=""
eval_main "$@"
