#!/usr/bin/env bash
# The synthetic recipe: synthesize speech, pretrain, fine-tune (and a from-scratch baseline),
# build an n-gram LM, evaluate on held-out voices, report. Every stage calls the speechssl CLI.
#
#   bash recipes/synthetic/run.sh [--conf recipes/synthetic/conf/default.sh] [--exp exp/synthetic]
#                                 [--stage N] [--stop-stage M]
#
# Stages: 0 synthesize (and, when Debian's flite is installed, the engine-shift test set: the test
# transcripts in flite's voices), 1 pretrain, 2 fine-tune the pretrained model, 3 fine-tune from
# scratch, 4 n-gram LM, 5 evaluate, 6 report. A finished stage leaves EXP/.done.<stage> and is skipped
# when rerun; an interrupted training stage resumes from its last checkpoint.
set -euo pipefail

RECIPE=synthetic
conf=recipes/synthetic/conf/default.sh
exp=exp/synthetic
# shellcheck source=recipes/common.sh
source "$(dirname "$0")/../common.sh"
corpus=$exp/corpus

synthesize() {
  $SPEECHSSL synthesize --output-dir "$corpus" --hours "$HOURS" --labeled-fraction "$LABELED_FRACTION" \
    --dev-fraction "$DEV_FRACTION" --test-fraction "$TEST_FRACTION" --seed "$SEED"
  if command -v flite > /dev/null; then
    $PYTHON "$(dirname "$0")/../../tools/make_engine_shift.py" "$corpus"
  else
    log "flite not installed (Debian: apt-get install flite): no engine-shift test set"
  fi
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

build_lm() {  # the labeled transcripts and the text-only corpus (no dev or test sentence in either)
  mkdir -p "$exp/lm"
  $SPEECHSSL build-lm "$corpus/train_labeled.wrd" "$corpus/lm_text.txt" --order "$LM_ORDER" \
    --output "$exp/lm/${LM_ORDER}gram.arpa"
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
    if [[ -f $corpus/engine_shift.tsv ]]; then
      $SPEECHSSL evaluate "$model" "$corpus/engine_shift.tsv" --output-dir "$exp/eval_engine_shift/$system" \
        "${lm_args[@]}" --no-progress
    fi
  done
}

run_stage 0 synthesize synthesize
run_stage 1 pretrain pretrain
run_stage 2 finetune_ssl finetune "$exp/finetune_ssl" "$FINETUNE_CONFIG" --init "$exp/pretrain"
run_stage 3 finetune_scratch finetune "$exp/finetune_scratch" "$SCRATCH_CONFIG"
run_stage 4 lm build_lm
run_stage 5 evaluate evaluate
if in_range 6; then
  log "stage 6 (report)"
  $SPEECHSSL report "$exp"
fi
