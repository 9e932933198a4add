#!/usr/bin/env bash
# The synthetic recipe: synthesize speech, pretrain, fine-tune (and a from-scratch baseline),
# build an n-gram LM, evaluate on held-out voices, report. Every stage calls the speechssl CLI.
#
#   bash recipes/synthetic/run.sh [--conf recipes/synthetic/conf/default.sh] [--exp exp/synthetic]
#                                 [--stage N] [--stop-stage M]
#
# Stages: 0 synthesize, 1 pretrain, 2 fine-tune the pretrained model, 3 fine-tune from scratch,
# 4 n-gram LM, 5 evaluate, 6 report. A finished stage leaves EXP/.done.<stage> and is skipped
# when rerun; an interrupted training stage resumes from its last checkpoint.
set -euo pipefail

conf=recipes/synthetic/conf/default.sh
exp=exp/synthetic
stage=0
stop_stage=100
while [[ $# -gt 0 ]]; do
  case "$1" in
    --conf) conf=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=/dev/null
source "$conf"
SPEECHSSL=${SPEECHSSL:-speechssl}
corpus=$exp/corpus
mkdir -p "$exp"

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') [synthetic] $*"; }

# run_stage N NAME COMMAND...: skip when done, time it, mark it done.
run_stage() {
  local n=$1 name=$2; shift 2
  if (( n < stage || n > stop_stage )); then return 0; fi
  if [[ -f $exp/.done.$name ]]; then log "stage $n ($name): done before, skipping"; return 0; fi
  log "stage $n ($name): start"
  local start=$SECONDS
  "$@"
  echo -e "$name\t$((SECONDS - start))" >> "$exp/stage_times.tsv"
  touch "$exp/.done.$name"
  log "stage $n ($name): finished in $((SECONDS - start)) s"
}

resume_flag() { [[ -f $1/checkpoints/latest ]] && echo --resume || true; }

synthesize() {
  $SPEECHSSL synthesize --output-dir "$corpus" --hours "$HOURS" --labeled-fraction "$LABELED_FRACTION" \
    --dev-fraction "$DEV_FRACTION" --test-fraction "$TEST_FRACTION" --seed "$SEED"
}

pretrain() {
  # shellcheck disable=SC2046,SC2086
  $SPEECHSSL pretrain --config "$PRETRAIN_CONFIG" --output-dir "$exp/pretrain" $(resume_flag "$exp/pretrain") \
    --train-manifest "$corpus/train_unlabeled.tsv" --valid-manifest "$corpus/dev.tsv" --set seed=$SEED $PRETRAIN_SET
}

finetune() {  # finetune OUTPUT CONFIG [--init MODEL]
  local out=$1 config=$2; shift 2
  # shellcheck disable=SC2046,SC2086
  $SPEECHSSL finetune --config "$config" --output-dir "$out" $(resume_flag "$out") "$@" \
    --train-manifest "$corpus/train_labeled.tsv" --valid-manifest "$corpus/dev.tsv" --set seed=$SEED $FINETUNE_SET
}

build_lm() {  # from the fine-tuning transcripts only: no test text leaks into the LM
  mkdir -p "$exp/lm"
  $SPEECHSSL build-lm "$corpus/train_labeled.wrd" --order "$LM_ORDER" --output "$exp/lm/${LM_ORDER}gram.arpa"
}

evaluate() {
  local model
  for system in ssl scratch ssl_lm; do
    case $system in
      ssl|ssl_lm) model=$exp/finetune_ssl/checkpoints/best ;;
      scratch) model=$exp/finetune_scratch/checkpoints/best ;;
    esac
    local lm_args=()
    if [[ $system == ssl_lm ]]; then
      lm_args=(--lm "$exp/lm/${LM_ORDER}gram.arpa" --beam-size "$BEAM_SIZE" --lm-weight "$LM_WEIGHT" --word-score "$WORD_SCORE")
    fi
    log "evaluate $system"
    $SPEECHSSL evaluate "$model" "$corpus/test.tsv" --output-dir "$exp/eval/$system" "${lm_args[@]}" --no-progress
  done
}

run_stage 0 synthesize synthesize
run_stage 1 pretrain pretrain
run_stage 2 finetune_ssl finetune "$exp/finetune_ssl" "$FINETUNE_CONFIG" --init "$exp/pretrain"
run_stage 3 finetune_scratch finetune "$exp/finetune_scratch" "$SCRATCH_CONFIG"
run_stage 4 lm build_lm
run_stage 5 evaluate evaluate
if (( stage <= 6 && 6 <= stop_stage )); then
  log "stage 6 (report)"
  $SPEECHSSL report "$exp"
fi
