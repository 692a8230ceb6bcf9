#!/usr/bin/env bash
# Agreement of gpg-vl's MathVista scoring with the official pipeline's recorded verdicts.
#   bash scripts/mathvista_agreement.sh PATH/TO/MathVista-checkout [TESTMINI_JSON]
# Reads the released model outputs (results/*/output_*.json: response, GPT extraction,
# true_false), withholds the recorded extraction, and prints per run: official accuracy as
# recorded, gpg-vl's strict and official accuracies, and the agreement of each with the
# recorded verdicts. Then the hand-labelled response set (tests/eval/response_set.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=${1:?usage: mathvista_agreement.sh PATH/TO/MathVista-checkout [testmini.json]}
TESTMINI=${2:-$REPO/data/testmini.json}
PY=${PYTHON:-.venv/bin/python}
mapfile -t FILES < <(ls "$REPO"/results/*/output_*.json | grep -v -e random -e template)
# kept out of rule development (docs/benchmarks.md, session 4): reported separately
HELD_OUT=output_chatgpt_2shot_solution_use_ocr,output_gpt4_2shot_solution_use_ocr,output_llava_llama_2_13b,output_minigpt4_llama2
PYTHONPATH=$PWD "$PY" -m gpg_vl.eval.agreement --testmini "$TESTMINI" --held-out "$HELD_OUT" "${FILES[@]}"
PYTHONPATH=$PWD "$PY" tests/eval/test_eval_response_set.py "$TESTMINI"
