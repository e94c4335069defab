#!/usr/bin/env bash
# Decode and prefill speed on a busy machine: 1 and 2 threads, machine idle and with one CPU-bound
# process (`yes`) pinned to a core, for one or more fathom binaries, interleaved round by round so
# that drifting background load hits every binary alike.
#   scripts/bench-busy-machine.sh MODEL_DIR [MODEL_DIR...]
# Environment:
#   BINARIES  space-separated fathom binaries to compare (default: build/fathom); put the baseline
#             first, e.g. BINARIES="/tmp/fathom-main build/fathom"
#   ROUNDS    interleaved rounds (default 3); each figure printed is one bench run's median of REPS
#   P N REPS  prompt tokens, generated tokens, repetitions per bench run (default 64 32 3)
#   BUSY_CPU  the core the competing process is pinned to (default 1)
# Prints the CPU and one table row per (round, model, binary, load, threads, test). Needs at least
# two cores; run it on a machine that is otherwise quiet.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/bench-busy-machine.sh MODEL_DIR [MODEL_DIR...]" >&2; exit 1; }
cd "$(dirname "$0")/.."
BINARIES=${BINARIES:-build/fathom}
ROUNDS=${ROUNDS:-3}
P=${P:-64} N=${N:-32} REPS=${REPS:-3}
BUSY_CPU=${BUSY_CPU:-1}
for m in "$@"; do [ -f "$m/config.json" ] || { echo "$m: no config.json (not a model directory)" >&2; exit 1; }; done
for b in $BINARIES; do [ -x "$b" ] || { echo "$b: not an executable fathom binary" >&2; exit 1; }; done

lscpu | grep -E "Model name|^CPU\(s\)|^CPU family|^Model:" | sed 's/  */ /g'
grep -m1 -o -w -E "avx512f|avx512_vnni|avx512_bf16|avx512_fp16|amx_tile" /proc/cpuinfo | sort -u | tr '\n' ' '; echo
uptime

busy_pid=
stop_busy() { if [ -n "$busy_pid" ]; then kill "$busy_pid" 2>/dev/null || true; wait "$busy_pid" 2>/dev/null || true; busy_pid=; fi; }
trap stop_busy EXIT

echo "| round | model | binary | load | threads | test | t/s |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
  for m in "$@"; do
    for load in idle busy; do
      for b in $BINARIES; do
        for t in 1 2; do
          if [ "$load" = busy ]; then taskset -c "$BUSY_CPU" yes > /dev/null & busy_pid=$!; fi
          "$b" bench "$m" -p "$P" -n "$N" -r "$REPS" -t "$t" 2>/dev/null |
            awk -F'|' -v r="$r" -v m="$(basename "$m")" -v b="$b" -v l="$load" -v t="$t" \
              '$6 ~ /pp|tg/ { gsub(/ /, "", $6); gsub(/ /, "", $7); printf "| %s | %s | %s | %s | %s | %s | %s |\n", r, m, b, l, t, $6, $7 }'
          stop_busy
        done
      done
    done
  done
done
