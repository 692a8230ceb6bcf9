#!/usr/bin/env bash
# Evaluate a checkpoint on fine-grained classification (normalised exact label match, per data
# set). Pairs with scripts/train_classification.sh.
# `--help` lists the options; docs/recipes.md says which training recipe each benchmark pairs with.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

BENCHMARK=classification
BENCH_TITLE="fine-grained classification (Flowers102, Pets37, FGVC Aircraft, Cars196)"
BENCH_DATA_HELP="test sets with {image, problem, solution} rows, comma-separated files or hub ids (required)"
BENCH_DATA_DEFAULT=""
eval_main "$@"
