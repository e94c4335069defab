#!/usr/bin/env bash
# fathom train at --precision f32, bf16 and fp8 on the same config, seed and data order: final
# validation loss (and its difference relative to f32), median tokens/s and peak RSS of each, as
# docs/TRAINING.md "Mixed precision" reports them.
#
#   scripts/train-precision.sh DATA_DIR [WORK_DIR]
#
# DATA_DIR is `fathom prepare` output for configs/default-model.json's vocabulary (the default
# model's, e.g. build/default-model/data from scripts/train-default-model.sh). Knobs (environment):
# STEPS (200), BATCH (4), SEQ (256), LR (2e-3), WARMUP (20), THREADS (2), EVAL_BATCHES (8),
# CONFIG (configs/default-model.json), FATHOM (build/fathom), PRECISIONS ("f32 bf16 fp8").
# Run it on a quiet machine: the runs are timed one after another.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: scripts/train-precision.sh DATA_DIR [WORK_DIR]}
WORK=${2:-build/train-precision}
STEPS=${STEPS:-200}
BATCH=${BATCH:-4}
SEQ=${SEQ:-256}
LR=${LR:-2e-3}
WARMUP=${WARMUP:-20}
THREADS=${THREADS:-2}
EVAL_BATCHES=${EVAL_BATCHES:-8}
CONFIG=${CONFIG:-configs/default-model.json}
FATHOM=${FATHOM:-build/fathom}
PRECISIONS=${PRECISIONS:-f32 bf16 fp8}
PYTHON=${PYTHON:-/usr/bin/python3}

mkdir -p "$WORK"
echo "# $(lscpu | grep 'Model name' | sed 's/  */ /g'); $THREADS threads; steps $STEPS batch $BATCH seq $SEQ lr $LR"
for p in $PRECISIONS; do
  rm -rf "$WORK/$p"
  CMD=("$FATHOM" train --config "$CONFIG" --data "$DATA" --out "$WORK/$p" --steps "$STEPS" --batch "$BATCH"
       --seq "$SEQ" --lr "$LR" --warmup "$WARMUP" --seed 1 --threads "$THREADS" --eval-every $((STEPS / 10))
       --eval-batches "$EVAL_BATCHES" --save-minutes 0 --precision "$p" --log-every 1000000)
  echo "command: ${CMD[*]}"
  /usr/bin/time -f "%M" -o "$WORK/$p.rss_kb" "${CMD[@]}" 2> "$WORK/$p.stderr"
done

"$PYTHON" - "$WORK" $PRECISIONS <<'PY'
import json, statistics, sys
work, names = sys.argv[1], sys.argv[2:]
rows = {}
for p in names:
    log = [json.loads(l) for l in open(f"{work}/{p}/train_log.jsonl") if l.strip()]
    train = [s for s in log if "loss" in s]
    val = [s for s in log if "val_loss" in s]
    tps = [s["tokens_per_s"] for s in train[1:]] or [train[0]["tokens_per_s"]]
    rss = int(open(f"{work}/{p}.rss_kb").read().split()[-1]) / 1024
    rows[p] = (val[-1]["val_loss"], train[-1]["loss"], statistics.median(tps), rss)
base = rows.get("f32")
print("| precision | final val loss | vs f32 | final train loss | tokens/s (median) | peak RSS MB |")
print("|---|---|---|---|---|---|")
for p, (v, t, tps, rss) in rows.items():
    rel = f"{(v - base[0]) / base[0] * 100:+.3f}%" if base else "-"
    print(f"| {p} | {v:.4f} | {rel} | {t:.4f} | {tps:.0f} | {rss:.0f} |")
PY
