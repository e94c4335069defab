#!/usr/bin/env bash
# Data-parallel training against one process on the same machine (docs/DISTRIBUTED.md): the default
# model's config (configs/default-model.json) on the default corpus (scripts/fetch-corpus.sh,
# tokenized with models/default's tokenizer), one process with 2 threads, then `mpirun -np 2` with
# 1 thread per rank and the same global batch. Prints both loss curves' largest relative difference
# and each run's median tokens/s.
#   scripts/bench-data-parallel.sh [WORK_DIR] [STEPS]        (default build/bench-dp, 40 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(realpath -m "${1:-build/bench-dp}")
STEPS=${2:-40}
FATHOM=$(realpath "${FATHOM:-build/fathom}")
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
mkdir -p "$WORK"
if [ ! -f "$WORK/data/meta.json" ]; then
  scripts/fetch-corpus.sh "$WORK/corpus" > /dev/null
  "$FATHOM" prepare --tokenizer models/default --out "$WORK/data" --val-fraction 0.02 "$WORK"/corpus/[0-9][0-9]-*.txt \
    > /dev/null
fi
ARGS=(--config configs/default-model.json --data "$WORK/data" --steps "$STEPS" --batch 8 --seq 256 --warmup 10
      --eval-every 0 --save-minutes 0 --seed 1)
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; default model config, batch 8x256, $STEPS steps"
rm -rf "$WORK/one" "$WORK/two"
"$FATHOM" train "${ARGS[@]}" --out "$WORK/one" --threads 2 2> /dev/null
mpirun -np 2 "$FATHOM" train "${ARGS[@]}" --out "$WORK/two" --threads 1 2> /dev/null
/usr/bin/python3 - "$WORK/one/train_log.jsonl" "$WORK/two/train_log.jsonl" <<'PY'
import json, statistics, sys
one, two = ([json.loads(l) for l in open(p) if '"loss"' in l] for p in sys.argv[1:3])
worst = max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(one, two))
print(f"loss: step 1 {one[0]['loss']:.4f}, step {len(one)} {one[-1]['loss']:.4f}; largest relative difference "
      f"between the runs {worst:.2e}")
for name, log in (("one process, 2 threads", one), ("mpirun -np 2, 1 thread each", two)):
    print(f"{name}: median {statistics.median(r['tokens_per_s'] for r in log[1:]):.0f} tokens/s")
PY
