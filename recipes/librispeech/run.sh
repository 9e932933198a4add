#!/usr/bin/env bash
# LibriSpeech + Libri-light: the wav2vec 2.0 paper's BASE experiments, end to end.
#
#   bash recipes/librispeech/run.sh [--conf recipes/librispeech/conf/default.sh] [--exp exp/librispeech]
#                                   [--stage N] [--stop-stage M]
#
# Stages: 0 download (openslr + Libri-light archives, resumable, MD5-checked), 1 prepare
# manifests, 2 pretrain, 3 fine-tune each split in FINETUNE_SPLITS, 4 language model,
# 5 evaluate every fine-tuned model on EVAL_SETS greedy and with the LM, 6 report.
# Run from the repository root. NUM_GPUS > 1 launches training with torchrun.
set -euo pipefail

RECIPE=librispeech
conf=recipes/librispeech/conf/default.sh
exp=exp/librispeech
# shellcheck source=recipes/common.sh
source "$(dirname "$0")/../common.sh"
lm_file=$exp/lm/${LM_ORDER}-gram.arpa

download() {
  # shellcheck disable=SC2086
  $SPEECHSSL download "$CORPUS_DIR" $DOWNLOAD
}

prepare() {
  local librilight=()
  [[ -d $CORPUS_DIR/librispeech_finetuning ]] && librilight=(--librilight "$CORPUS_DIR/librispeech_finetuning")
  $SPEECHSSL prepare librispeech "$CORPUS_DIR" --output-dir "$DATA" "${librilight[@]}" --fold "$LIBRILIGHT_FOLD"
}

pretrain() {
  # shellcheck disable=SC2046,SC2086
  train pretrain --config "$PRETRAIN_CONFIG" --output-dir "$exp/pretrain" $(resume_flag "$exp/pretrain") \
    --train-manifest "$DATA/$PRETRAIN_MANIFEST.tsv" --valid-manifest "$DATA/dev-other.tsv" \
    --set seed=$SEED optim.update_freq=$(update_freq 64) $PRETRAIN_SET
}

split_manifest() {
  case $1 in
    10min|1h|10h) echo "$DATA/train-$1.tsv" ;;
    100h) echo "$DATA/train-clean-100.tsv" ;;
    960h) echo "$DATA/train-960.tsv" ;;
    *) echo "unknown fine-tuning split $1 (10min 1h 10h 100h 960h)" >&2; exit 2 ;;
  esac
}

finetune_all() {
  local split out
  for split in $FINETUNE_SPLITS; do
    out=$exp/finetune_$split
    [[ -f $out/.done ]] && { log "fine-tuning $split: done before"; continue; }
    log "fine-tuning on $split"
    # shellcheck disable=SC2046,SC2086
    train finetune --config "${FINETUNE_CONFIG//\{split\}/$split}" --output-dir "$out" $(resume_flag "$out") \
      --init "$exp/pretrain" --train-manifest "$(split_manifest "$split")" --valid-manifest "$DATA/dev-other.tsv" \
      --set seed=$SEED optim.update_freq=$(update_freq 8) finetune.dictionary="$DATA/dict.ltr.txt" $FINETUNE_SET
    touch "$out/.done"
  done
}

language_model() {
  mkdir -p "$exp/lm"
  if [[ $LM == openslr ]]; then
    [[ -f $CORPUS_DIR/archives/4-gram.arpa.gz ]] || $SPEECHSSL download "$CORPUS_DIR" 4-gram --keep-archives
    # KenLM in flashlight reads plain ARPA; LibriSpeech's LM is upper case like the transcripts
    gunzip -c "$CORPUS_DIR/archives/4-gram.arpa.gz" > "$lm_file.tmp" && mv "$lm_file.tmp" "$lm_file"
  else
    # shellcheck disable=SC2086
    $SPEECHSSL build-lm ${LM_TEXT:-$DATA/train-clean-100.wrd} --order "$LM_ORDER" --output "$lm_file"
  fi
}

evaluate_all() {
  local split
  for split in $FINETUNE_SPLITS; do
    log "evaluate $split: greedy"
    evaluate_sets "$exp/finetune_$split/checkpoints/best" "$exp/eval/$split/greedy" "$DATA" $EVAL_SETS
    log "evaluate $split: ${LM_ORDER}-gram, beam $BEAM_SIZE"
    evaluate_sets "$exp/finetune_$split/checkpoints/best" "$exp/eval/$split/${LM_ORDER}gram" "$DATA" $EVAL_SETS \
      -- --lm "$lm_file" --beam-size "$BEAM_SIZE" --lm-weight "$LM_WEIGHT" --word-score "$WORD_SCORE"
  done
}

run_stage 0 download download
run_stage 1 prepare prepare
run_stage 2 pretrain pretrain
run_stage 3 finetune finetune_all
run_stage 4 lm language_model
run_stage 5 evaluate evaluate_all
if in_range 6; then
  log "stage 6 (report)"
  $SPEECHSSL report "$exp"
fi
