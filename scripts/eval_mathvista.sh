#!/usr/bin/env bash
# Evaluate a checkpoint on MathVista testmini (rule-based answer extraction, official
# normalisation; no paid judge). Pairs with the GeoQA recipes (scripts/train_geoqa.sh).
# `--help` lists the options; docs/recipes.md says which training recipe each benchmark pairs with.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

BENCHMARK=mathvista
BENCH_TITLE="MathVista testmini"
BENCH_DATA_HELP="hub id, release folder or testmini.json (default: AI4Math/MathVista)"
BENCH_DATA_DEFAULT="AI4Math/MathVista"
eval_main "$@"
