#!/usr/bin/env bash
# Trains fathom's shipped default model from nothing, in one command, and installs it in
# models/default/ (what `make run`, and `fathom run` / `fathom chat` without a model, use):
#
#   corpus (scripts/fetch-corpus.sh: the KJV Bible from Debian's bible-kjv-text, public domain)
#   -> fathom train-tokenizer (byte-level BPE, DeepSeek-V3 pre-tokenizer, vocab 4096)
#   -> fathom prepare (chapters as documents, 2% held out for validation)
#   -> unigram / bigram baselines on the held-out text (scripts/unigram_baseline.py)
#   -> fathom train --config configs/default-model.json (MLA + YaRN, MoE 8 routed top-2 in 4 groups
#      + 1 shared, noaux_tc balancing, 1 MTP layer) on 256-token sequences: WORK_DIR/run
#   -> fathom train --init WORK_DIR/run on 1024-token sequences, the whole context the config
#      advertises (max_position_embeddings), at a lower learning rate: WORK_DIR/run-long. Without
#      this stage the model has never seen a position past 255 and collapses into loops there.
#   -> models/default/{config.json, model.safetensors (bf16), generation_config.json,
#      tokenizer.json, tokenizer_config.json}
#
#   scripts/train-default-model.sh [WORK_DIR]        (default build/default-model)
#
# Re-running continues an interrupted training run (--resume) instead of starting over; delete
# WORK_DIR/run and WORK_DIR/run-long to start afresh. Knobs (environment): STEPS, BATCH, SEQ, LR,
# WARMUP (first stage), LONG_STEPS, LONG_BATCH, LONG_SEQ, LONG_LR, LONG_WARMUP (second stage;
# LONG_STEPS=0 skips it), THREADS, FATHOM, INSTALL (where the model goes; default models/default).
# Everything it did, with timings and losses, is summarised in WORK_DIR/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-build/default-model}
FATHOM=${FATHOM:-build/fathom}
STEPS=${STEPS:-800}
BATCH=${BATCH:-16}
SEQ=${SEQ:-256}
LR=${LR:-2e-3}
WARMUP=${WARMUP:-100}
LONG_STEPS=${LONG_STEPS:-200}
LONG_BATCH=${LONG_BATCH:-2}
LONG_SEQ=${LONG_SEQ:-1024}
LONG_LR=${LONG_LR:-6e-4}
LONG_WARMUP=${LONG_WARMUP:-15}
THREADS=${THREADS:-0}
INSTALL=${INSTALL:-models/default}
VOCAB=4096
SEED=1
PYTHON=${PYTHON:-/usr/bin/python3}  # Debian python3 with numpy (not a pyenv shim)

if [ ! -x "$FATHOM" ]; then
  echo "[default-model] building fathom"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build -j "$(nproc)" --target fathom
  FATHOM=build/fathom
fi
mkdir -p "$WORK"
SUMMARY=$WORK/summary.txt
log() { echo "$*" | tee -a "$SUMMARY"; }
: > "$SUMMARY"
log "# default model, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, fathom $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

t=$SECONDS
scripts/fetch-corpus.sh "$WORK/corpus" | tee -a "$SUMMARY"
CORPUS=("$WORK"/corpus/[0-9][0-9]-*.txt)

"$FATHOM" train-tokenizer --vocab-size $VOCAB --out "$WORK/tokenizer" "${CORPUS[@]}" 2>&1 | tee -a "$SUMMARY"
"$FATHOM" prepare --tokenizer "$WORK/tokenizer" --out "$WORK/data" --val-fraction 0.02 "${CORPUS[@]}" 2>&1 \
  | tee -a "$SUMMARY"
"$PYTHON" scripts/unigram_baseline.py "$WORK/data" | tee -a "$SUMMARY"
log "data pipeline: $((SECONDS - t)) s"

# One training stage into OUT (resumed when OUT holds a training state), then its numbers for
# docs/TRAINING.md from the run's log.
train_stage() {
  local name=$1 out=$2
  shift 2
  local resume=() args=("$@")
  if [ -f "$out/training_state.safetensors" ]; then
    resume=(--resume)
    log "$name: resuming the run in $out"
    # A resumed run continues from its own weights: fathom refuses --init with --resume.
    args=()
    while [ $# -gt 0 ]; do
      if [ "$1" = --init ]; then shift 2; else args+=("$1"); shift; fi
    done
  fi
  local cmd=("$FATHOM" train "${args[@]}" --data "$WORK/data" --out "$out" --seed $SEED --threads "$THREADS"
             --save-dtype bf16 "${resume[@]}")
  log "$name command: ${cmd[*]}"
  local t=$SECONDS
  "${cmd[@]}"
  log "$name training wall time: $((SECONDS - t)) s (this invocation)"
  "$PYTHON" - "$out/train_log.jsonl" <<'PY' | tee -a "$SUMMARY"
import json, statistics, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
train = [s for s in steps if "loss" in s]
val = [s for s in steps if "val_loss" in s]
tps = [s["tokens_per_s"] for s in train[len(train) // 10:]]
print(f"steps {train[-1]['step']}; final train loss {train[-1]['loss']:.4f}, mtp {train[-1].get('mtp_loss', 0):.4f}; "
      f"median {statistics.median(tps):.0f} tokens/s; train time {sum(s['step_s'] for s in train):.0f} s")
if val:
    print(f"final val loss {val[-1]['val_loss']:.4f} (step {val[-1]['step']}), val mtp loss {val[-1].get('val_mtp_loss', 0):.4f}")
lm = [s["load_max_mean"] for s in train if "load_max_mean" in s]
if lm:
    q = max(1, len(lm) // 10)
    print(f"expert load max/mean: first 10% of steps {statistics.mean(lm[:q]):.2f}, last 10% {statistics.mean(lm[-q:]):.2f}")
PY
}

train_stage "stage 1 (seq $SEQ)" "$WORK/run" --config configs/default-model.json --steps "$STEPS" --batch "$BATCH" \
  --seq "$SEQ" --lr "$LR" --warmup "$WARMUP" --eval-every 100 --save-every 100
FINAL=$WORK/run
if [ "$LONG_STEPS" -gt 0 ]; then
  # Fresh AdamW state, a short warmup and a lower peak: this stage teaches positions 256..1023,
  # it does not start over. Two 1024-token sequences a step (half stage 1's tokens per step) buys
  # more updates in the time the shared machine gave it (docs/TRAINING.md).
  train_stage "stage 2 (seq $LONG_SEQ)" "$WORK/run-long" --init "$WORK/run" --steps "$LONG_STEPS" \
    --batch "$LONG_BATCH" --seq "$LONG_SEQ" --lr "$LONG_LR" --warmup "$LONG_WARMUP" --eval-every 50 --save-every 50 --save-minutes 5
  FINAL=$WORK/run-long
fi

mkdir -p "$INSTALL"
for f in config.json model.safetensors generation_config.json; do cp "$FINAL/$f" "$INSTALL/"; done
for f in tokenizer.json tokenizer_config.json; do cp "$WORK/tokenizer/$f" "$INSTALL/"; done
size=$(du -cb "$INSTALL"/* | tail -1 | cut -f1)
log "$INSTALL: $((size / 1000)) kB"
[ "$size" -le 20000000 ] || { log "$INSTALL exceeds 20 MB"; exit 1; }

log "sample (fathom run $INSTALL -p 'And God said' -n 60 --temp 0.7 --seed 1):"
"$FATHOM" run "$INSTALL" -p "And God said" -n 60 --temp 0.7 --seed 1 2>/dev/null | tee -a "$SUMMARY" || true
echo
echo "[default-model] done; summary in $SUMMARY"
