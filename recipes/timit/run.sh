#!/usr/bin/env bash
# TIMIT phone recognition: prepare (61 -> 39 phones, standard dev and core test sets),
# optionally pretrain, fine-tune with CTC on phones, score phone error rate (PER).
#
#   bash recipes/timit/run.sh [--conf recipes/timit/conf/default.sh] [--exp exp/timit] [--stage N] [--stop-stage M]
#
# Stages: 1 prepare, 2 pretrain (only when INIT_MODEL is empty), 3 fine-tune, 4 evaluate, 5 report.
# TIMIT is licensed by the LDC: there is no download stage. The "WER" that `speechssl evaluate`
# prints is computed over phone symbols, i.e. it is the PER.
set -euo pipefail

RECIPE=timit
conf=recipes/timit/conf/default.sh
exp=exp/timit
# shellcheck source=recipes/common.sh
source "$(dirname "$0")/../common.sh"
init=${INIT_MODEL:-$exp/pretrain}

prepare() {
  $SPEECHSSL prepare timit "$TIMIT_DIR" --output-dir "$DATA"
}

pretrain() {
  if [[ -n $INIT_MODEL ]]; then log "starting from $INIT_MODEL: no pretraining"; return 0; fi
  # shellcheck disable=SC2046,SC2086
  train pretrain --config "$PRETRAIN_CONFIG" --output-dir "$exp/pretrain" $(resume_flag "$exp/pretrain") \
    --train-manifest "$DATA/train.tsv" --valid-manifest "$DATA/dev.tsv" --set seed=$SEED $PRETRAIN_SET
}

finetune() {
  # shellcheck disable=SC2046,SC2086
  train finetune --config "$FINETUNE_CONFIG" --output-dir "$exp/finetune" $(resume_flag "$exp/finetune") \
    --init "$init" --train-manifest "$DATA/train.tsv" --valid-manifest "$DATA/dev.tsv" \
    --set seed=$SEED optim.update_freq=$(update_freq 8) $FINETUNE_SET
}

evaluate() {
  # shellcheck disable=SC2086
  evaluate_sets "$exp/finetune/checkpoints/best" "$exp/eval/phones/greedy" "$DATA" $EVAL_SETS
}

run_stage 1 prepare prepare
run_stage 2 pretrain pretrain
run_stage 3 finetune finetune
run_stage 4 evaluate evaluate
if in_range 5; then
  log "stage 5 (report)"
  $SPEECHSSL report "$exp"
fi
