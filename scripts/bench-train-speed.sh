#!/usr/bin/env bash
# Training speed and peak memory of `fathom train --precision f32|bf16|fp8` and of the PyTorch
# reference trainer (tests/reference/torch_train.py, f32, the peer) on the same config, batch, data
# and threads, as docs/TRAINING.md "Speed and memory" reports them. Short runs, interleaved
# (round 1: f32 bf16 fp8 torch, round 2: ...), each under `flock BENCH_LOCK` when set, so that a
# loaded machine affects all of them alike; reports the median tokens/s over steps 2.. of each run,
# the median over rounds, and the peak RSS (/usr/bin/time).
#
#   scripts/bench-train-speed.sh DATA_DIR [WORK_DIR]
#
# DATA_DIR: `fathom prepare` output for CONFIG's vocabulary (e.g. build/default-model/data).
# Knobs (environment): STEPS (20), TORCH_STEPS (3: the reference trainer is written for clarity,
# not speed, and takes about a minute a step), BATCH (4), SEQ (256), THREADS (2), ROUNDS (2), CONFIG
# (configs/default-model.json), FATHOM (build/fathom), RUNS ("f32 bf16 fp8 torch"), BENCH_LOCK, and
# OLD: another build's fathom (a baseline); the run named "old" in RUNS is its f32 trainer.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: scripts/bench-train-speed.sh DATA_DIR [WORK_DIR]}
WORK=${2:-build/train-speed}
STEPS=${STEPS:-20}
TORCH_STEPS=${TORCH_STEPS:-3}
BATCH=${BATCH:-4}
SEQ=${SEQ:-256}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
CONFIG=${CONFIG:-configs/default-model.json}
FATHOM=${FATHOM:-build/fathom}
RUNS=${RUNS:-f32 bf16 fp8 torch}
PYTHON=${PYTHON:-/usr/bin/python3}
LOCK=()
[ -n "${BENCH_LOCK:-}" ] && LOCK=(flock "$BENCH_LOCK")

mkdir -p "$WORK"
echo "# $(lscpu | grep 'Model name' | sed 's/  */ /g'); $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $THREADS threads; $STEPS steps (torch: $TORCH_STEPS) of batch $BATCH x seq $SEQ; $ROUNDS rounds interleaved"
# The PyTorch trainer starts from a checkpoint: fathom's own initial weights (0 steps are not
# allowed, so one step's; speed does not depend on the values).
if [[ " $RUNS " == *" torch "* ]] && [ ! -f "$WORK/init/model.safetensors" ]; then
  "$FATHOM" train --config "$CONFIG" --data "$DATA" --out "$WORK/init" --steps 1 --batch 1 --seq 8 --seed 1 \
    --threads "$THREADS" --eval-every 0 --save-minutes 0 --save-dtype f32 > /dev/null 2>&1
fi
for r in $(seq 1 "$ROUNDS"); do
  for run in $RUNS; do
    out="$WORK/$run.$r"
    rm -rf "$out"
    if [ "$run" = torch ]; then
      CMD=("$PYTHON" tests/reference/torch_train.py --init "$WORK/init" --data "$DATA" --out "$out.jsonl"
           --steps "$TORCH_STEPS" --batch "$BATCH" --seq "$SEQ" --seed 1 --threads "$THREADS" --dtype float32)
    elif [ "$run" = old ]; then
      CMD=("${OLD:?RUNS names old: set OLD to the fathom binary of the baseline}" train --config "$CONFIG" --data "$DATA"
           --out "$out" --steps "$STEPS" --batch "$BATCH" --seq "$SEQ" --seed 1 --threads "$THREADS" --eval-every 0
           --save-minutes 0 --log-every 1000000)
    else
      CMD=("$FATHOM" train --config "$CONFIG" --data "$DATA" --out "$out" --steps "$STEPS" --batch "$BATCH"
           --seq "$SEQ" --seed 1 --threads "$THREADS" --eval-every 0 --save-minutes 0 --precision "$run"
           --log-every 1000000)
    fi
    [ "$r" = 1 ] && echo "command: ${CMD[*]}"
    "${LOCK[@]}" /usr/bin/time -f "%M" -o "$out.rss_kb" "${CMD[@]}" > "$out.stdout" 2> "$out.stderr"
  done
done

"$PYTHON" - "$WORK" "$ROUNDS" "$BATCH" "$SEQ" $RUNS <<'PY'
import json, os, statistics, sys
work, rounds, B, T, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
rows = {}
for run in runs:
    tps, rss = [], []
    for r in range(1, rounds + 1):
        log = f"{work}/{run}.{r}.jsonl" if run == "torch" else f"{work}/{run}.{r}/train_log.jsonl"
        steps = [json.loads(l) for l in open(log) if l.strip()]
        steps = [s for s in steps if "step_s" in s][1:]  # step 1 allocates and warms up
        tps.append(statistics.median(B * T / s["step_s"] for s in steps))
        rss.append(int(open(f"{work}/{run}.{r}.rss_kb").read().split()[-1]) / 1024)
    rows[run] = (statistics.median(tps), tps, max(rss))
base = rows.get("f32")
print("| run | tokens/s (median of rounds) | per round | vs fathom f32 | peak RSS MB |")
print("|---|---|---|---|---|")
for run, (t, per, rss) in rows.items():
    name = {"torch": "PyTorch 1.13 f32", "old": "fathom f32, OLD build"}.get(run, f"fathom {run}")
    rel = f"{t / base[0]:.2f}x" if base else "-"
    print(f"| {name} | {t:.0f} | {' / '.join(f'{x:.0f}' for x in per)} | {rel} | {rss:.0f} |")
PY
