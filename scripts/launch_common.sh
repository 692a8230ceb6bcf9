# shellcheck shell=bash
# Shared by scripts/train_*.sh and scripts/eval_*.sh (sourced, never run): argument and
# environment parsing, usage text, config and accelerate-config choice, and ONE launch command.
#
# Training always runs as
#   accelerate launch --config_file configs/accelerate/<choice>.yaml --num_machines N
#     --machine_rank R --main_process_ip A --main_process_port P --num_processes N*GPUS
#     -m gpg_vl.cli train --config configs/<task>_<model>.yaml model.path=... data.train=...
#     train.output_dir=... [key.sub=value ...]
# so one GPU, one node with several GPUs, and several nodes (run the same script on every node
# with its NODE_RANK) differ only in the numbers. Before launching, the config and overrides are
# loaded once with gpg_vl.config (a bad key fails here, not in N processes after model loading).

GPG_VL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GPG_VL_BIN="${GPG_VL_VENV:-$GPG_VL_ROOT/.venv}/bin"

# --- small helpers -------------------------------------------------------------------------
_die_usage() {  # message -> usage on stderr, exit 2
    echo "$(basename "$0"): error: $1" >&2
    echo >&2
    _usage >&2
    exit 2
}

_is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

_gpu_count() {  # GPUs nvidia-smi lists, else 1
    local n=0
    if command -v nvidia-smi >/dev/null 2>&1; then
        n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
    fi
    if [[ "$n" -gt 0 ]]; then echo "$n"; else echo 1; fi
}

# Config suffix of a model: the family from the checkpoint's config.json (a local folder) or the
# release name (a hub id), the size from the name: Qwen/Qwen2-VL-2B-Instruct -> qwen2vl_2b,
# /ckpt/Qwen3-VL-4B-Instruct -> qwen3vl_4b (gpg_vl/families/recipes.py). On failure: the reason, and
# a non-zero status.
model_key() {
    "$GPG_VL_BIN/python" -m gpg_vl.families.recipes "$1"
}

_print_command() {  # the command, shell-quoted, on one line
    local out="" arg
    for arg in "$@"; do out+="$(printf '%q' "$arg") "; done
    echo "${out% }"
}

# --- training ------------------------------------------------------------------------------
# A train_*.sh sets TASK, TASK_TITLE, TASK_DATA_HELP, DATA_REQUIRED (0/1) and, optionally,
# TASK_OPTIONS_HELP plus the functions task_option NAME VALUE (returns 0 if it took the option)
# and task_overrides (appends to the array TASK_OVERRIDES), then calls train_main "$@".

_train_usage() {
    local config_help="default: configs/${TASK}_<model>.yaml, chosen from the model
                                      name ($(_task_configs))"
    [[ -n "${TASK_CONFIG_HELP:-}" ]] && config_help="$TASK_CONFIG_HELP"
    cat <<EOF
Usage: $(basename "$0") --model MODEL --output-dir DIR [options] [key.sub=value ...]

GPG training: ${TASK_TITLE}
Every option can also be given as the environment variable in brackets.

Required:
  --model MODEL         [MODEL]       hub id or local folder of the policy
  --output-dir DIR      [OUTPUT_DIR]  logs, checkpoints and the final model
Data:
  --data PATH           [DATA]        ${TASK_DATA_HELP}
Config:
  --config FILE         [CONFIG]      ${config_help}
  key.sub=value ...                   config overrides passed to gpg-vl train (train.lr=5e-7 ...)
  --resume              [RESUME=1]    continue from the newest complete checkpoint in DIR
${TASK_OPTIONS_HELP:-}Processes:
  --num-gpus N          [NUM_GPUS]    processes per node (default: GPUs nvidia-smi lists, else 1)
  --nnodes N            [NNODES]      nodes (default 1)
  --node-rank R         [NODE_RANK]   this node, 0..NNODES-1 (default 0)
  --master-addr HOST    [MASTER_ADDR] address of node 0 (required when NNODES > 1)
  --master-port PORT    [MASTER_PORT] default 29500
  --deepspeed STAGE     [DEEPSPEED]   zero2 (default) | zero3 | zero3_offload | none (plain DDP)
  --engine ENGINE       [ENGINE]      rollout sampler: hf (default) | vllm (one colocated vLLM engine per
                                      process; runs in .venv-vllm, scripts/setup_vllm.sh)
  --accelerate-config F [ACCELERATE_CONFIG] use this accelerate YAML instead
  --cpu                 [DEVICE=cpu]  CPU processes with gloo DDP (testing; no DeepSpeed)
  --dry-run             [DRY_RUN=1]   check the config, print the command, launch nothing
  -h, --help                          this text

Examples:
  # one GPU
  $(basename "$0") --model Qwen/Qwen2-VL-2B-Instruct --output-dir runs/${TASK}-2b --num-gpus 1
  # one node, 8 GPUs, ZeRO-3
  $(basename "$0") --model Qwen/Qwen2.5-VL-7B-Instruct --output-dir runs/${TASK}-7b --deepspeed zero3
  # two nodes: run on each node, NODE_RANK 0 and 1
  NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 $(basename "$0") --model ... --output-dir ...
EOF
}

_task_configs() {
    local f names=()
    for f in "$GPG_VL_ROOT"/configs/"${TASK}"_*.yaml; do
        [[ -e "$f" ]] && names+=("$(basename "$f" .yaml | sed "s/^${TASK}_//")")
    done
    local joined
    joined=$(printf '%s, ' "${names[@]}")
    echo "${joined%, }"
}

_train_defaults() {
    MODEL="${MODEL:-}"; DATA="${DATA:-}"; OUTPUT_DIR="${OUTPUT_DIR:-}"; CONFIG="${CONFIG:-}"
    NUM_GPUS="${NUM_GPUS:-}"; NNODES="${NNODES:-1}"; NODE_RANK="${NODE_RANK:-0}"
    MASTER_ADDR="${MASTER_ADDR:-}"; MASTER_PORT="${MASTER_PORT:-29500}"
    DEEPSPEED="${DEEPSPEED:-zero2}"; ACCELERATE_CONFIG="${ACCELERATE_CONFIG:-}"
    DEVICE="${DEVICE:-gpu}"; DRY_RUN="${DRY_RUN:-0}"; RESUME="${RESUME:-0}"; ENGINE="${ENGINE:-}"
    USER_OVERRIDES=(); TASK_OVERRIDES=()
}

_train_parse() {
    local arg name value
    while [[ $# -gt 0 ]]; do
        arg="$1"; shift
        case "$arg" in
            -h|--help) _usage; exit 0 ;;
            --dry-run) DRY_RUN=1; continue ;;
            --cpu) DEVICE=cpu; continue ;;
            --resume) RESUME=1; continue ;;
            --*=*) name="${arg%%=*}"; value="${arg#*=}" ;;
            --*) name="$arg"
                 [[ $# -gt 0 ]] || _die_usage "$arg needs a value"
                 value="$1"; shift ;;
            *=*) USER_OVERRIDES+=("$arg"); continue ;;
            *) _die_usage "unexpected argument '$arg' (config overrides look like key.sub=value)" ;;
        esac
        case "$name" in
            --model) MODEL="$value" ;;
            --data) DATA="$value" ;;
            --output-dir) OUTPUT_DIR="$value" ;;
            --config) CONFIG="$value" ;;
            --num-gpus) NUM_GPUS="$value" ;;
            --nnodes) NNODES="$value" ;;
            --node-rank) NODE_RANK="$value" ;;
            --master-addr) MASTER_ADDR="$value" ;;
            --master-port) MASTER_PORT="$value" ;;
            --deepspeed) DEEPSPEED="$value" ;;
            --engine) ENGINE="$value" ;;
            --accelerate-config) ACCELERATE_CONFIG="$value" ;;
            *) if ! declare -F task_option >/dev/null || ! task_option "$name" "$value"; then
                   _die_usage "unknown option $name"
               fi ;;
        esac
    done
}

_train_check() {
    [[ -n "$MODEL" ]] || _die_usage "missing --model (or MODEL)"
    [[ -n "$OUTPUT_DIR" ]] || _die_usage "missing --output-dir (or OUTPUT_DIR)"
    [[ "${DATA_REQUIRED:-0}" != 1 || -n "$DATA" ]] || _die_usage "missing --data (or DATA): ${TASK_DATA_HELP}"
    [[ -n "$NUM_GPUS" ]] || NUM_GPUS=$(_gpu_count)
    local v
    for v in NUM_GPUS NNODES NODE_RANK MASTER_PORT; do
        _is_uint "${!v}" || _die_usage "$v must be a non-negative integer, got '${!v}'"
    done
    [[ "$NUM_GPUS" -ge 1 && "$NNODES" -ge 1 ]] || _die_usage "NUM_GPUS and NNODES must be >= 1"
    [[ "$NODE_RANK" -lt "$NNODES" ]] || _die_usage "NODE_RANK $NODE_RANK must be below NNODES $NNODES"
    if [[ "$NNODES" -gt 1 && -z "$MASTER_ADDR" ]]; then
        _die_usage "NNODES=$NNODES needs --master-addr (or MASTER_ADDR): the address of node 0"
    fi
    MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"
    case "$DEEPSPEED" in zero2|zero3|zero3_offload|none) ;;
        *) _die_usage "--deepspeed must be zero2, zero3, zero3_offload or none, got '$DEEPSPEED'" ;;
    esac
    case "$DEVICE" in gpu|cpu) ;; *) _die_usage "DEVICE must be gpu or cpu, got '$DEVICE'" ;; esac
    case "$ENGINE" in ""|hf) ;;
        vllm) # the trainer imports vLLM in process: it runs in the vLLM environment
              GPG_VL_BIN="${GPG_VL_VENV:-$GPG_VL_ROOT/.venv-vllm}/bin"
              [[ -x "$GPG_VL_BIN/python" ]] || _die_usage "--engine vllm needs $GPG_VL_BIN/python: run scripts/setup_vllm.sh" ;;
        *) _die_usage "--engine must be hf or vllm, got '$ENGINE'" ;;
    esac
    if [[ -z "$CONFIG" ]]; then
        local key
        key=$(model_key "$MODEL") || _die_usage "$key"
        CONFIG="$GPG_VL_ROOT/configs/${TASK}_${key}.yaml"
        [[ -f "$CONFIG" ]] || _die_usage "no recipe configs/${TASK}_${key}.yaml (recipes: $(_task_configs)); pass --config"
    fi
    [[ -f "$CONFIG" ]] || _die_usage "config file not found: $CONFIG"
}

_accelerate_args() {  # fills ACC_ARGS: config file (+ DeepSpeed JSON and precision)
    local acc="$GPG_VL_ROOT/configs/accelerate"
    ACC_ARGS=()
    if [[ -n "$ACCELERATE_CONFIG" ]]; then
        ACC_ARGS=(--config_file "$ACCELERATE_CONFIG")
    elif [[ "$DEVICE" == cpu ]]; then
        ACC_ARGS=(--config_file "$acc/cpu_ddp.yaml")
    elif [[ "$DEEPSPEED" != none ]]; then
        # accelerate refuses mixed_precision in a YAML that names a DeepSpeed JSON: give it here
        ACC_ARGS=(--config_file "$acc/deepspeed_${DEEPSPEED}.yaml"
                  --deepspeed_config_file "$GPG_VL_ROOT/configs/deepspeed/${DEEPSPEED}.json"
                  --mixed_precision bf16)
    elif [[ $((NNODES * NUM_GPUS)) -eq 1 ]]; then
        ACC_ARGS=(--config_file "$acc/single_gpu.yaml")
    else
        ACC_ARGS=(--config_file "$acc/multi_gpu.yaml")
    fi
}

# Load the config with its overrides once and check that the batch splits over the processes.
_validate_config() {
    "$GPG_VL_BIN/python" - "$CONFIG" "$1" "${@:2}" <<'PY'
import sys
from gpg_vl.config import Config, ConfigError, load_config
path, world, overrides = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
try:
    cfg = load_config(Config, path, overrides)
except (ConfigError, ValueError) as exc:
    sys.exit(f"config error: {exc}")
if cfg.train.prompts_per_step % world:
    sys.exit(f"config error: train.prompts_per_step={cfg.train.prompts_per_step} does not split over "
             f"{world} processes; pass train.prompts_per_step=<a multiple of {world}> "
             "(train.epochs keeps the epochs; with train.steps, adjust it too)")
import os
data = os.environ.get("GPG_VL_LAUNCH_DATA")
if data and cfg.data.adapter is not None and not any(o.startswith("data.adapter=") for o in overrides):
    print(f"note: {path} reads its data through adapter {cfg.data.adapter!r} (the recipe's source format); "
          f"if {data} is in gpg-vl's own schema or TRL's conversational format (docs/own-data.md), "
          "add data.adapter=null", file=sys.stderr)
steps = f"{cfg.train.steps} steps" if cfg.train.epochs is None else f"{cfg.train.epochs:g} epochs"
print(f"config ok: {path}: {steps} x {cfg.train.prompts_per_step} prompts x "
      f"G={cfg.rollout.num_generations}, {world} process(es)", file=sys.stderr)
PY
}

train_main() {
    _usage() { _train_usage; }
    _train_defaults
    _train_parse "$@"
    _train_check
    declare -F task_overrides >/dev/null && task_overrides
    local overrides=("model.path=$MODEL")
    [[ -n "$DATA" ]] && overrides+=("data.train=$DATA")
    overrides+=("train.output_dir=$OUTPUT_DIR" "${TASK_OVERRIDES[@]}")
    [[ -n "$ENGINE" ]] && overrides+=("rollout.engine=$ENGINE")
    [[ "$RESUME" == 1 ]] && overrides+=("train.resume_from=auto")
    overrides+=("${USER_OVERRIDES[@]}")
    local world=$((NNODES * NUM_GPUS))
    GPG_VL_LAUNCH_DATA="$DATA" _validate_config "$world" "${overrides[@]}" || exit 2
    _accelerate_args
    local cmd=("$GPG_VL_BIN/accelerate" launch "${ACC_ARGS[@]}"
               --num_machines "$NNODES" --machine_rank "$NODE_RANK"
               --main_process_ip "$MASTER_ADDR" --main_process_port "$MASTER_PORT"
               --num_processes "$world"
               -m gpg_vl.cli train --config "$CONFIG" "${overrides[@]}")
    _print_command "${cmd[@]}"
    [[ "$DRY_RUN" == 1 ]] && exit 0
    if [[ "$NODE_RANK" == 0 ]]; then  # the exact command next to the run, for reproduction
        mkdir -p "$OUTPUT_DIR"
        _print_command "${cmd[@]}" >"$OUTPUT_DIR/launch_command.sh"
    fi
    _run_error_last "${cmd[@]}"
}

# Run a command; when it fails, repeat its last "gpg-vl ...: error: ..." line at the very end,
# below the launcher's own traceback (accelerate prints one for any failed process).
_run_error_last() {
    local errlog rc last
    errlog=$(mktemp)
    set +e
    { "$@" 2>&1 1>&3 | tee "$errlog" >&2; } 3>&1
    rc=${PIPESTATUS[0]}
    set -e
    if [[ "$rc" -ne 0 ]]; then
        last=$(grep -E '^gpg-vl [a-z-]+( [a-z-]+)?: error: ' "$errlog" | tail -n 1 || true)
        [[ -n "$last" ]] && { echo >&2; echo "$last" >&2; }
    fi
    rm -f "$errlog"
    return "$rc"
}

# --- evaluation ----------------------------------------------------------------------------
# An eval_*.sh sets BENCHMARK, BENCH_TITLE, BENCH_DATA_HELP and BENCH_DATA_DEFAULT (empty: --data
# is required), then calls eval_main "$@". One process on one device (CUDA_VISIBLE_DEVICES).

_eval_usage() {
    cat <<EOF
Usage: $(basename "$0") --model MODEL --output-dir DIR [--data PATH] [gpg-vl eval options]

Evaluate a checkpoint on ${BENCH_TITLE} (gpg-vl eval --benchmark ${BENCHMARK}): greedy
generation, resumable from DIR/predictions.jsonl, then rule-based scoring into DIR/scored.jsonl,
DIR/summary.json and DIR/report.md. Every option can also be the environment variable in brackets.

  --model MODEL       [MODEL]       checkpoint folder (e.g. runs/x/final) or hub id   (required)
  --output-dir DIR    [OUTPUT_DIR]  results folder                                     (required)
  --data PATH         [DATA]        ${BENCH_DATA_HELP}
  --dry-run           [DRY_RUN=1]   print the command, run nothing
  -h, --help                        this text
Anything else goes to gpg-vl eval unchanged, e.g. --limit 100, --batch-size 16,
--max-new-tokens 1024, --prompt-template "{problem} Output the thinking process in <think>
</think> and final answer in <answer> </answer> tags." (the training prompt), --device cuda:1.
EOF
}

eval_main() {
    _usage() { _eval_usage; }
    MODEL="${MODEL:-}"; DATA="${DATA:-${BENCH_DATA_DEFAULT:-}}"; OUTPUT_DIR="${OUTPUT_DIR:-}"
    DRY_RUN="${DRY_RUN:-0}"
    local passthrough=() arg
    while [[ $# -gt 0 ]]; do
        arg="$1"; shift
        case "$arg" in
            -h|--help) _usage; exit 0 ;;
            --dry-run) DRY_RUN=1 ;;
            --model=*) MODEL="${arg#*=}" ;;
            --data=*) DATA="${arg#*=}" ;;
            --output-dir=*|--out=*) OUTPUT_DIR="${arg#*=}" ;;
            --model|--data|--output-dir|--out)
                [[ $# -gt 0 ]] || _die_usage "$arg needs a value"
                case "$arg" in --model) MODEL="$1" ;; --data) DATA="$1" ;; *) OUTPUT_DIR="$1" ;; esac
                shift ;;
            *) passthrough+=("$arg") ;;
        esac
    done
    [[ -n "$MODEL" ]] || _die_usage "missing --model (or MODEL)"
    [[ -n "$OUTPUT_DIR" ]] || _die_usage "missing --output-dir (or OUTPUT_DIR)"
    [[ -n "$DATA" ]] || _die_usage "missing --data (or DATA): ${BENCH_DATA_HELP}"
    local cmd=("$GPG_VL_BIN/python" -m gpg_vl.cli eval --benchmark "$BENCHMARK"
               --model "$MODEL" --data "$DATA" --out "$OUTPUT_DIR" "${passthrough[@]}")
    _print_command "${cmd[@]}"
    [[ "$DRY_RUN" == 1 ]] && exit 0
    _run_error_last "${cmd[@]}"
}
