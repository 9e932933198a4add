# Shared by every recipe's run.sh (sourced after it sets RECIPE, conf, exp):
# option parsing, logging, stage bookkeeping and the multi-process launcher.
#
#   --conf FILE --exp DIR --stage N --stop-stage M
#
# A finished stage leaves EXP/.done.<name> and is skipped when rerun; a training stage that was
# interrupted resumes from its last checkpoint; stage wall times go to EXP/stage_times.tsv.

stage=${stage:-0}
stop_stage=${stop_stage:-100}
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
PYTHON=${PYTHON:-python3}  # runs the tools/ scripts some stages use
NUM_GPUS=${NUM_GPUS:-1}
mkdir -p "$exp"

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') [$RECIPE] $*"; }

# run_stage N NAME COMMAND...: skip when done or outside --stage/--stop-stage, time it, mark it done.
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

in_range() { (( stage <= $1 && $1 <= stop_stage )); }

resume_flag() { [[ -f $1/checkpoints/latest ]] && echo --resume || true; }

# train SUBCOMMAND ARGS...: speechssl pretrain/finetune on NUM_GPUS processes (torchrun when > 1).
train() {
  if (( NUM_GPUS > 1 )); then
    ${TORCHRUN:-torchrun} --standalone --nproc_per_node="$NUM_GPUS" -m speechssl "$@"
  else
    # shellcheck disable=SC2086
    $SPEECHSSL "$@"
  fi
}

# update_freq TOTAL: micro-batches per process so NUM_GPUS processes see the reference batch of
# TOTAL GPU-batches per update (fairseq: distributed_world_size x update_freq).
update_freq() {
  if (( $1 % NUM_GPUS != 0 )); then
    echo "NUM_GPUS=$NUM_GPUS does not divide the reference $1 GPU-batches per update" >&2; exit 2
  fi
  echo $(($1 / NUM_GPUS))
}

# evaluate_sets MODEL OUT DATA SET... [-- DECODER OPTIONS]: one `speechssl evaluate` call (the
# model loads once) writing OUT/<set>/wer.json and hypotheses.tsv for every DATA/<set>.tsv.
evaluate_sets() {
  local model=$1 out=$2 data=$3; shift 3
  local manifests=() options=()
  while [[ $# -gt 0 && $1 != -- ]]; do manifests+=("$data/$1.tsv"); shift; done
  [[ $# -gt 0 ]] && { shift; options=("$@"); }
  local target=$out
  (( ${#manifests[@]} == 1 )) && target=$out/$(basename "${manifests[0]}" .tsv)
  $SPEECHSSL evaluate "$model" "${manifests[@]}" --output-dir "$target" --no-progress "${options[@]}"
}
