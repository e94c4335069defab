#!/usr/bin/env bash
# The recipe for models/reasoner/ (docs/TRAINING.md, "The reasoning model recipe"): hours on 2
# cores, resumable stage by stage. From a fresh checkout:
#
#   worked solutions (scripts/arith_sft_data.py: digit by digit with carries / borrows)
#   -> fathom train-tokenizer on their text, every digit its own token (--digits-per-token 1; its
#      chat template keeps assistant turns whole)
#   -> fathom prepare --chat (loss on the assistant turns only)
#   -> fathom train --config configs/reasoner-model.json    (SFT)
#   -> fathom eval-arith RUN/sft --n 1000 --seed 1000003     (held-out accuracy after SFT)
#   -> fathom train-grpo --init RUN/sft                      (GRPO; the SFT model is the reference)
#   -> fathom eval-arith RUN/grpo --n 1000 --seed 1000003    (held-out accuracy after GRPO)
#
#   scripts/train-reasoner.sh [WORK_DIR]        (default build/reasoner)
#
# Knobs (environment): SFT_N, SFT_STEPS, GRPO_STEPS, GRPO_LR (1e-5), THREADS, FATHOM, CONFIG, INSTALL
# (where the GRPO model is installed, default models/reasoner). Re-running resumes
# the stage that was interrupted. Everything is summarised in WORK_DIR/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-build/reasoner}
FATHOM=${FATHOM:-build/fathom}
CONFIG=${CONFIG:-configs/reasoner-model.json}  # 3.0 M parameters, vocabulary 512, context 512
SFT_N=${SFT_N:-100000}
SFT_STEPS=${SFT_STEPS:-3000}
GRPO_STEPS=${GRPO_STEPS:-300}
THREADS=${THREADS:-0}
mkdir -p "$WORK"
S="$WORK/summary.txt"

[ -f "$WORK/sft.jsonl" ] || python3 scripts/arith_sft_data.py --n "$SFT_N" --seed 1 > "$WORK/sft.jsonl"
[ -f "$WORK/sft.txt" ] || python3 scripts/arith_sft_data.py --n 20000 --seed 2 --text > "$WORK/sft.txt"
[ -f "$WORK/tok/tokenizer.json" ] || "$FATHOM" train-tokenizer --vocab-size 512 --digits-per-token 1 \
  --out "$WORK/tok" "$WORK/sft.txt"
[ -f "$WORK/data/meta.json" ] || "$FATHOM" prepare --chat --tokenizer "$WORK/tok" --out "$WORK/data" \
  --val-fraction 0.01 "$WORK/sft.jsonl"

resume=(); [ -f "$WORK/sft/training_state.safetensors" ] && resume=(--resume)
/usr/bin/time -f "sft: %e s" -a -o "$S" "$FATHOM" train --config "$CONFIG" --data "$WORK/data" --out "$WORK/sft" \
  --steps "$SFT_STEPS" --batch 8 --seq 384 --lr 2e-3 --warmup 100 --threads "$THREADS" "${resume[@]}"
# Held-out accuracy after SFT, once (a rerun that resumes GRPO does not redo it).
if [ ! -f "$WORK/sft-eval.txt" ]; then
  "$FATHOM" eval-arith "$WORK/sft" --n 1000 --seed 1000003 --max-tokens 320 -t "$THREADS" > "$WORK/sft-eval.tmp"
  mv "$WORK/sft-eval.tmp" "$WORK/sft-eval.txt"
  { echo "after SFT:"; cat "$WORK/sft-eval.txt"; } >> "$S"
fi
cat "$WORK/sft-eval.txt"

resume=(); [ -f "$WORK/grpo/grpo_state.safetensors" ] && resume=(--resume)
/usr/bin/time -f "grpo: %e s" -a -o "$S" "$FATHOM" train-grpo --init "$WORK/sft" --out "$WORK/grpo" \
  --steps "$GRPO_STEPS" --prompts 8 --group 8 --max-answer 320 --lr "${GRPO_LR:-1e-5}" --beta 0.04 \
  --threads "$THREADS" "${resume[@]}"
if [ ! -f "$WORK/grpo-eval.txt" ]; then
  "$FATHOM" eval-arith "$WORK/grpo" --n 1000 --seed 1000003 --max-tokens 320 -t "$THREADS" > "$WORK/grpo-eval.tmp"
  mv "$WORK/grpo-eval.tmp" "$WORK/grpo-eval.txt"
  { echo "after GRPO:"; cat "$WORK/grpo-eval.txt"; } >> "$S"
fi
cat "$WORK/grpo-eval.txt"

# The shipped model: the GRPO checkpoint with the tokenizer it was trained with (INSTALL, default
# models/reasoner), at most 20 MB.
INSTALL=${INSTALL:-models/reasoner}
mkdir -p "$INSTALL"
for f in config.json model.safetensors generation_config.json tokenizer.json tokenizer_config.json; do
  cp "$WORK/grpo/$f" "$INSTALL/"
done
size=$(du -cb "$INSTALL"/* | tail -1 | cut -f1)
echo "$INSTALL: $((size / 1000)) kB" | tee -a "$S"
[ "$size" -le 20000000 ] || { echo "$INSTALL exceeds 20 MB" >&2; exit 1; }
