#!/usr/bin/env bash
# Evaluate a checkpoint on CV-Bench (choice extraction; the official overall score): the
# benchmark of the paper's SAT experiment (scripts/train_sat.sh).
# `--help` lists the options; docs/recipes.md says which training recipe each benchmark pairs with.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

BENCHMARK=cvbench
BENCH_TITLE="CV-Bench (2-D and 3-D vision-centric multiple choice)"
BENCH_DATA_HELP="hub id or release folder (default: nyu-visionx/CV-Bench)"
BENCH_DATA_DEFAULT="nyu-visionx/CV-Bench"
eval_main "$@"
