#!/usr/bin/env bash
# Common Voice, any language: prepare from the release layout, pretrain (or start from
# INIT_MODEL), fine-tune with CTC on characters or sentencepiece units, n-gram LM, evaluate.
#
#   bash recipes/commonvoice/run.sh [--conf recipes/commonvoice/conf/default.sh] [--exp exp/commonvoice]
#                                   [--stage N] [--stop-stage M]
#
# Stages: 1 prepare, 2 pretrain (skipped with INIT_MODEL), 3 fine-tune, 4 n-gram LM (character
# units only), 5 evaluate (greedy, and with the LM), 6 report. Common Voice is downloaded from
# commonvoice.mozilla.org after accepting its terms, so there is no download stage.
set -euo pipefail

RECIPE=commonvoice
conf=recipes/commonvoice/conf/default.sh
exp=exp/commonvoice
# shellcheck source=recipes/common.sh
source "$(dirname "$0")/../common.sh"
init=${INIT_MODEL:-$exp/pretrain}
lm_file=$exp/lm/${LM_ORDER}-gram.arpa

prepare() {
  local options=()
  [[ -n $LANGUAGE ]] && options+=(--language "$LANGUAGE")
  [[ $FLAC == 1 ]] && options+=(--flac)
  $SPEECHSSL prepare commonvoice "$LANGUAGE_DIR" --output-dir "$DATA" "${options[@]}"
}

units() {
  if [[ $UNITS != auto ]]; then echo "$UNITS"; return; fi
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["units"])' "$DATA/prepare.json"
}

pretrain() {
  if [[ -n $INIT_MODEL ]]; then log "starting from $INIT_MODEL: no pretraining"; return 0; fi
  # shellcheck disable=SC2046,SC2086
  train pretrain --config "$PRETRAIN_CONFIG" --output-dir "$exp/pretrain" $(resume_flag "$exp/pretrain") \
    --train-manifest "$DATA/unlabeled.tsv" --valid-manifest "$DATA/dev.tsv" \
    --set seed=$SEED optim.update_freq=$(update_freq 64) $PRETRAIN_SET
}

finetune() {
  local unit_options
  if [[ $(units) == char ]]; then
    unit_options="finetune.tokenizer=char finetune.dictionary=$DATA/dict.ltr.txt"
  else
    unit_options="finetune.tokenizer=sentencepiece finetune.sentencepiece_vocab_size=$SP_VOCAB"
  fi
  log "fine-tuning with $(units) units"
  # shellcheck disable=SC2046,SC2086
  train finetune --config "$FINETUNE_CONFIG" --output-dir "$exp/finetune" $(resume_flag "$exp/finetune") \
    --init "$init" --train-manifest "$DATA/train.tsv" --valid-manifest "$DATA/dev.tsv" \
    --set seed=$SEED optim.update_freq=$(update_freq 8) $unit_options $FINETUNE_SET
}

language_model() {
  if [[ $(units) != char ]]; then log "no word LM for $(units) units"; return 0; fi
  mkdir -p "$exp/lm"
  # shellcheck disable=SC2086
  $SPEECHSSL build-lm ${LM_TEXT:-$DATA/train.wrd} --order "$LM_ORDER" --case keep --output "$lm_file"
}

evaluate() {
  # shellcheck disable=SC2086
  evaluate_sets "$exp/finetune/checkpoints/best" "$exp/eval/finetune/greedy" "$DATA" $EVAL_SETS
  if [[ -f $lm_file ]]; then
    # shellcheck disable=SC2086
    evaluate_sets "$exp/finetune/checkpoints/best" "$exp/eval/finetune/${LM_ORDER}gram" "$DATA" $EVAL_SETS \
      -- --lm "$lm_file" --beam-size "$BEAM_SIZE" --lm-weight "$LM_WEIGHT" --word-score "$WORD_SCORE"
  fi
}

run_stage 1 prepare prepare
run_stage 2 pretrain pretrain
run_stage 3 finetune finetune
run_stage 4 lm language_model
run_stage 5 evaluate evaluate
if in_range 6; then
  log "stage 6 (report)"
  $SPEECHSSL report "$exp"
fi
