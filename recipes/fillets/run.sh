#!/usr/bin/env bash
# Fish Fillets NG's voiced dialogue (recorded human speech, Czech by default): what
# self-supervision buys on ~10 labeled minutes, and on all of them, of a low-resource language.
#
#   bash tools/fetch_fillets.sh cs data/corpora/fillets       # once: apt-get download + dpkg -x
#   bash recipes/fillets/run.sh [--conf recipes/fillets/conf/default.sh] [--exp exp/fillets]
#                               [--stage N] [--stop-stage M]
#
# Stages: 0 prepare (manifests, 16 kHz flac), 1 pretrain on the unlabeled Czech audio,
# 2 continue the synthetic recipe's pretrained model on the same audio (pretrain --init),
# 3 fine-tune every system in SYSTEMS on every amount in AMOUNTS: ssl (from stage 1), scratch
# (random weights, SCRATCH_CONFIG: every weight trained), synthetic (the synthetic recipe's checkpoint as it is: transfer from
# synthetic English), synthetic_continued (from stage 2), 4 an n-gram LM per amount from that
# amount's transcripts only, 5 evaluate on EVAL_SETS (greedy; LM_SYSTEMS also with the LM),
# 6 report. Stage 2 and the synthetic systems need SYNTHETIC_PRETRAINED (run
# `bash recipes/synthetic/run.sh --stop-stage 1` first). A finished stage (or fine-tuning run)
# is skipped when rerun; an interrupted training resumes from its last checkpoint.
set -euo pipefail

RECIPE=fillets
conf=recipes/fillets/conf/default.sh
exp=exp/fillets
# shellcheck source=recipes/common.sh
source "$(dirname "$0")/../common.sh"

prepare() {
  $SPEECHSSL prepare fillets "$SOURCE" --language "$LANGUAGE" --output-dir "$DATA" --seed "$SEED" \
    --train-minutes "$TRAIN_MINUTES" --dev-minutes "$DEV_MINUTES" --test-minutes "$TEST_MINUTES"
}

pretrain() {  # pretrain OUTPUT EXTRA_SET [--init MODEL]
  local out=$1 extra=$2; shift 2
  # shellcheck disable=SC2046,SC2086
  train pretrain --config "$PRETRAIN_CONFIG" --output-dir "$out" $(resume_flag "$out") "$@" \
    --train-manifest "$DATA/train_unlabeled.tsv" --valid-manifest "$DATA/dev.tsv" --set seed=$SEED $extra
}

uses_synthetic() { [[ " $SYSTEMS " == *" synthetic"* ]]; }

need_synthetic() {
  if [[ ! -e $SYNTHETIC_PRETRAINED ]]; then
    echo "$SYNTHETIC_PRETRAINED: no pretrained model; run the synthetic recipe's pretraining first" \
         "(bash recipes/synthetic/run.sh --stop-stage 1) or set SYNTHETIC_PRETRAINED" >&2
    exit 2
  fi
}

continue_pretraining() {
  if [[ " $SYSTEMS " != *" synthetic_continued "* ]]; then log "synthetic_continued not in SYSTEMS: nothing to do"; return; fi
  need_synthetic
  pretrain "$exp/pretrain_continued" "$CONTINUE_SET" --init "$SYNTHETIC_PRETRAINED"
}

init_of() {  # the model a system starts from (nothing for scratch)
  case $1 in
    ssl) echo "$exp/pretrain" ;;
    scratch) ;;
    synthetic) echo "$SYNTHETIC_PRETRAINED" ;;
    synthetic_continued) echo "$exp/pretrain_continued" ;;
    *) echo "unknown system $1 (ssl scratch synthetic synthetic_continued)" >&2; exit 2 ;;
  esac
}

finetune_all() {
  local amount system out init extra run_config
  uses_synthetic && need_synthetic
  for amount in $AMOUNTS; do
    extra=FINETUNE_SET_$amount
    for system in $SYSTEMS; do
      out=$exp/finetune_${system}_$amount
      [[ -f $out/.done ]] && { log "fine-tuning $system on $amount: done before"; continue; }
      init=$(init_of "$system")
      run_config=$FINETUNE_CONFIG
      [[ $system == scratch ]] && run_config=$SCRATCH_CONFIG  # every weight trained, 30 s batches
      log "fine-tuning $system on $amount"
      # shellcheck disable=SC2046,SC2086
      train finetune --config "${run_config//\{amount\}/$amount}" --output-dir "$out" $(resume_flag "$out") \
        ${init:+--init "$init"} --train-manifest "$DATA/train_$amount.tsv" --valid-manifest "$DATA/dev.tsv" \
        --set seed=$SEED finetune.dictionary="$DATA/dict.ltr.txt" ${!extra:-}
      touch "$out/.done"
    done
  done
}

language_models() {  # from each amount's own transcripts: no dev or test text reaches an LM
  local amount
  mkdir -p "$exp/lm"
  for amount in $AMOUNTS; do
    $SPEECHSSL build-lm "$DATA/train_$amount.wrd" --order "$LM_ORDER" --case lower --output "$exp/lm/$amount.arpa"
  done
}

evaluate_all() {
  local amount system model set sets=()
  for set in $EVAL_SETS; do  # a release voicing the two fish alone (Dutch) has no test_other_speakers
    if [[ -f $DATA/$set.tsv ]]; then sets+=("$set"); else log "$DATA/$set.tsv: no such split (see $DATA/prepare.json); not evaluated"; fi
  done
  (( ${#sets[@]} )) || { echo "none of EVAL_SETS ($EVAL_SETS) is in $DATA" >&2; exit 2; }
  for amount in $AMOUNTS; do
    for system in $SYSTEMS; do
      model=$exp/finetune_${system}_$amount/checkpoints/best
      log "evaluate ${system}_$amount: greedy"
      evaluate_sets "$model" "$exp/eval/${system}_$amount/greedy" "$DATA" "${sets[@]}"
      if [[ " $LM_SYSTEMS " == *" $system "* ]]; then
        log "evaluate ${system}_$amount: ${LM_ORDER}-gram, beam $BEAM_SIZE"
        evaluate_sets "$model" "$exp/eval/${system}_$amount/${LM_ORDER}gram" "$DATA" "${sets[@]}" \
          -- --lm "$exp/lm/$amount.arpa" --beam-size "$BEAM_SIZE" --lm-weight "$LM_WEIGHT" --word-score "$WORD_SCORE"
      fi
    done
  done
}

run_stage 0 prepare prepare
run_stage 1 pretrain pretrain "$exp/pretrain" "$PRETRAIN_SET"
run_stage 2 pretrain_continued continue_pretraining
run_stage 3 finetune finetune_all
run_stage 4 lm language_models
run_stage 5 evaluate evaluate_all
if in_range 6; then
  log "stage 6 (report)"
  $SPEECHSSL report "$exp"
fi
