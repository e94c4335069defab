#!/usr/bin/env bash
# Expert-parallel training's memory (docs/DISTRIBUTED.md): an expert-heavy variant of the default
# model's config (32 routed experts of width 256 per MoE layer, so the routed experts are most of the
# parameters) trained a few steps on the repository's own docs, tokenized with models/default's
# tokenizer. Three runs with the same global batch: one process; `mpirun -np 2` data parallel; and
# `mpirun -np 2 --expert-parallel` (and that once more without its final checkpoint). Prints each rank's peak RSS, the parameters each rank holds and
# the loss curves' largest relative difference from one process.
#   scripts/bench-expert-parallel-train.sh [WORK_DIR] [STEPS]     (default build/bench-ep-train, 6 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(realpath -m "${1:-build/bench-ep-train}")
STEPS=${2:-6}
FATHOM=$(realpath "${FATHOM:-build/fathom}")
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$WORK"
if [ ! -f "$WORK/data/meta.json" ]; then
  "$FATHOM" prepare --tokenizer models/default --out "$WORK/data" --val-fraction 0.05 docs/*.md > /dev/null
fi
/usr/bin/python3 - configs/default-model.json "$WORK/model.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(n_routed_experts=32, moe_intermediate_size=256)
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
ARGS=(--config "$WORK/model.json" --data "$WORK/data" --steps "$STEPS" --batch 2 --seq 64 --warmup 1
      --eval-every 0 --save-minutes 0 --seed 1 --threads 1)
# Each rank reports its own peak RSS (GNU time, %M in KB) and the parameter line fathom prints.
run() {  # NAME RANKS [FLAGS...]
  local name=$1 ranks=$2
  shift 2
  rm -rf "${WORK:?}/$name"
  local cmd="/usr/bin/time -f \"$name rank \${OMPI_COMM_WORLD_RANK:-0}: peak RSS %M KB\" $FATHOM train ${ARGS[*]} --out $WORK/$name $*"
  if [ "$ranks" -eq 1 ]; then sh -c "$cmd" 2>&1; else mpirun -np "$ranks" sh -c "$cmd" 2>&1; fi |
    grep -E "peak RSS|expert parallel over|parameters \(" | sed "s/^fathom train/$name: fathom train/"
}
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; expert-heavy default config, batch 2x64, $STEPS steps"
run one 1
run dp 2
run ep 2 --expert-parallel
# The same without the final checkpoint (--stop-after: the run ends as if killed after that step):
# the training steps' own peak, without rank 0's gather buffer.
run ep-nosave 2 --expert-parallel --stop-after $((STEPS - 1))
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
logs = {n: [json.loads(l) for l in open(f"{sys.argv[1]}/{n}/train_log.jsonl") if '"loss"' in l] for n in ("one", "dp", "ep")}
for n in ("dp", "ep"):
    worst = max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(logs["one"], logs[n]))
    print(f"{n}: largest relative loss difference from one process over {len(logs[n])} steps: {worst:.2e}")
PY
