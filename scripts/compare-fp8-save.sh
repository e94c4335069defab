#!/usr/bin/env bash
# `fathom train --save-dtype fp8` against `--save-dtype bf16` of the same weights (issue 22): two
# identical one-step runs from models/default (learning rate 1e-12, so the weights are the shipped
# ones), saved in the two formats, then
#   - `fathom info`'s dtype line of each;
#   - perplexity of both on the books of Ruth and Jonah;
#   - both models' logits over the first 2,500 bytes of that text (one prefill each): relative L2
#     of the difference, top-1 agreement, KL(bf16 || fp8), and bf16's top-2 margin where they
#     disagree (NumPy, /usr/bin/python3);
#   - greedy 100 tokens from five prompts: how many leading tokens are identical.
# Usage: scripts/compare-fp8-save.sh DATA_DIR [WORK_DIR]   (DATA_DIR: `fathom prepare` output with
# models/default's tokenizer; CORPUS (default build/bench-data/corpus) holds 08-Ruth.txt, 32-Jonah.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: scripts/compare-fp8-save.sh DATA_DIR [WORK_DIR]}
WORK=${2:-build/fp8save}
FATHOM=${FATHOM:-build/fathom}
CORPUS=${CORPUS:-build/bench-data/corpus}
mkdir -p "$WORK"
for d in bf16 fp8; do
  rm -rf "${WORK:?}/$d"
  "$FATHOM" train --init models/default --data "$DATA" --out "$WORK/$d" --steps 1 --batch 1 --seq 64 --lr 1e-12 \
    --save-dtype $d --threads 1 > "$WORK/$d.log" 2>&1
  echo "$d: $("$FATHOM" info "$WORK/$d" | grep '^dtypes')"
done
cat "$CORPUS/08-Ruth.txt" "$CORPUS/32-Jonah.txt" > "$WORK/text.txt"
for d in bf16 fp8; do
  echo "$d: $("$FATHOM" perplexity "$WORK/$d" -f "$WORK/text.txt" -t 1 2> /dev/null | grep '^perplexity')"
done
head -c 2500 "$WORK/text.txt" > "$WORK/head.txt"
ids=$("$FATHOM" tokenize "$WORK/bf16" --text-file "$WORK/head.txt" | tr -d '[] ')
for d in bf16 fp8; do "$FATHOM" logits "$WORK/$d" --ids "$ids" --out "$WORK/logits-$d.npy" -t 1 > /dev/null 2>&1; done
/usr/bin/python3 - "$WORK" <<'PY'
import sys
import numpy as np
w = sys.argv[1]
a, b = np.load(f"{w}/logits-bf16.npy"), np.load(f"{w}/logits-fp8.npy")
def log_softmax(x):
    x = x - x.max(1, keepdims=True)
    return x - np.log(np.exp(x).sum(1, keepdims=True))
pa, pb = log_softmax(a.astype(np.float64)), log_softmax(b.astype(np.float64))
kl = (np.exp(pa) * (pa - pb)).sum(1)
top = np.sort(a, 1)
margin = top[:, -1] - top[:, -2]
differ = a.argmax(1) != b.argmax(1)
print(f"logits over {len(a)} positions: relative L2 {np.linalg.norm(a - b) / np.linalg.norm(a):.4f}, "
      f"top-1 agreement {100 * (1 - differ.mean()):.1f}%, KL(bf16||fp8) mean {kl.mean():.5f} max {kl.max():.4f}")
if differ.any():
    print(f"bf16's top-2 margin where the top-1 differs: median {np.median(margin[differ]):.3f}, "
          f"max {margin[differ].max():.3f} (all positions: median {np.median(margin):.3f})")
PY
for p in "And God said" "And it came to pass" "Blessed are the" "In the beginning" "The LORD is my shepherd;"; do
  for d in bf16 fp8; do
    "$FATHOM" run "$WORK/$d" -p "$p" -n 100 --temp 0 --ignore-eos -t 1 2> /dev/null > "$WORK/greedy-$d.txt"
    "$FATHOM" tokenize "$WORK/bf16" --text-file "$WORK/greedy-$d.txt" | tr -d '[] ' | tr ',' '\n' > "$WORK/greedy-$d.ids"
  done
  same=$(paste -d' ' "$WORK/greedy-bf16.ids" "$WORK/greedy-fp8.ids" | awk '$1 != $2 { print NR - 1; found = 1; exit } END { if (!found) print NR }')
  echo "greedy '$p': the first $same of $(wc -l < "$WORK/greedy-bf16.ids") tokens identical"
done
