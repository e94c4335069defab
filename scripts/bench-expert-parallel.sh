#!/usr/bin/env bash
# Expert-parallel inference against one process on the same machine (docs/DISTRIBUTED.md): greedy
# generation with `fathom run`, one process with 2 threads, then `mpirun -np 2` with 1 thread per
# rank. Prints each run's peak RSS (per rank) and generation speed, and checks that the generated
# text is the same.
#   scripts/bench-expert-parallel.sh MODEL_DIR [N_PREDICT]
# e.g. a V2-Lite-shape Q4_0 model:
#   build/fathom synth --preset v2-lite --dtype fp8 --tokenizer models/default --out M-fp8 &&
#   build/fathom quantize M-fp8 M --type q4_0     (the model directory needs a tokenizer.json)
set -euo pipefail
MODEL=$(realpath "${1:?usage: scripts/bench-expert-parallel.sh MODEL_DIR [N_PREDICT]}")
N=${2:-32}
cd "$(dirname "$0")/.."
FATHOM=$(realpath "${FATHOM:-build/fathom}")
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Shared memory between the ranks, without cross-memory attach (often refused in containers).
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
ARGS=(-p "The history of the world" --temp 0 -n "$N" --ignore-eos)
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; model $MODEL, $N tokens"

/usr/bin/time -o "$OUT/rss.one" -f %M "$FATHOM" run "$MODEL" "${ARGS[@]}" -t 2 > "$OUT/one.txt" 2> "$OUT/one.err"
echo "one process, 2 threads:  peak RSS $(($(cat "$OUT/rss.one") / 1024)) MiB | $(grep -o 'generation: .*' "$OUT/one.err")"

# Each rank's stdout into its own file (OpenMPI gives ranks a pseudo-terminal otherwise).
mpirun -np 2 sh -c "exec /usr/bin/time -o $OUT/rss.\$OMPI_COMM_WORLD_RANK -f %M \"$FATHOM\" run \"$MODEL\" \
  -p 'The history of the world' --temp 0 -n $N --ignore-eos -t 1 > $OUT/two.\$OMPI_COMM_WORLD_RANK" 2> "$OUT/two.err"
echo "mpirun -np 2, 1 thread:  peak RSS rank 0 $(($(cat "$OUT/rss.0") / 1024)) MiB, rank 1 $(($(cat "$OUT/rss.1") / 1024)) MiB | $(grep -o 'generation: .*' "$OUT/two.err")"
if cmp -s "$OUT/one.txt" "$OUT/two.0"; then echo "greedy output: identical"; else echo "greedy output: DIFFERENT"; exit 1; fi
