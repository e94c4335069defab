#!/usr/bin/env bash
# MTP self-speculative decoding against plain decoding (docs/PERFORMANCE.md): greedy, one thread,
# 256 tokens from each prompt, `fathom run` with and without --mtp --mtp-draft K, interleaved so
# a disturbance hits both sides alike. Prints one row per prompt and K (decode tok/s of each side,
# the speed-up, the acceptance) and the median speed-up per K.
#   scripts/bench_mtp.sh MODEL_DIR [FATHOM_BINARY] [REPEATS] [KS]     (KS: the K values, "1 2 3")
# BENCH_CLOCK=cpu: tok/s from CPU time instead of the speed line's wall-clock time, for a machine
# shared with other work (time off the CPU then does not count): tokens / (user + system seconds of
# the run - those of the same run with -n 1, i.e. loading, setup and prefill), best of REPEATS.
set -euo pipefail
model=${1:?usage: scripts/bench_mtp.sh MODEL_DIR [FATHOM_BINARY] [REPEATS] [KS]}
fathom=${2:-build/fathom}
repeats=${3:-3}
ks=${4:-"1 2 3"}
prompts=(
  "In the beginning God created the heaven and the earth. And the earth was without form, and void;"
  "The LORD is my shepherd;"
  "And God said, Let there be light:"
  "Blessed is the man that walketh not in the counsel of the ungodly,"
  "And it came to pass in those days,"
)
lscpu | grep -E "Model name|^CPU family|^Model:" || true
clock=${BENCH_CLOCK:-wall}
errf=$(mktemp)
trap 'rm -f "$errf"' EXIT
# CPU seconds (user + system) of one run; its stderr goes to $errf.
cpu_run() {
  local TIMEFORMAT='%3U %3S' t
  t=$({ time "$fathom" run "$model" "$@" >/dev/null 2>"$errf"; } 2>&1)
  awk '{print $1 + $2}' <<<"$t"
}
# decode tok/s and the mtp counters from the speed line on stderr (the best of `repeats` runs).
measure() {
  local best=0 line acc="" base=1e9 tps cpu
  if [[ $clock == cpu ]]; then
    for ((r = 0; r < repeats; ++r)); do
      cpu=$(cpu_run -p "$1" -n 1 --ignore-eos --temp 0 -t 1 "${@:2}")
      if awk "BEGIN{exit !($cpu < $base)}"; then base=$cpu; fi
    done
  fi
  for ((r = 0; r < repeats; ++r)); do
    cpu=$(cpu_run -p "$1" -n 256 --ignore-eos --temp 0 -t 1 "${@:2}")
    line=$(grep "generation:" "$errf")
    if [[ $clock == cpu ]]; then
      tps=$(sed -E 's/.*generation: ([0-9]+) tokens.*/\1/' <<<"$line" | awk -v c="$cpu" -v b="$base" '{printf "%.1f", $1 / (c - b)}')
    else
      tps=$(sed -E 's/.*generation: [0-9]+ tokens, [0-9.]+ s, ([0-9.]+) tok\/s.*/\1/' <<<"$line")
    fi
    if awk "BEGIN{exit !($tps > $best)}"; then best=$tps; fi
    acc=$(grep -oE "mtp: accepted [0-9]+/[0-9]+ \([0-9.]+%\)" <<<"$line" || true)
  done
  echo "$best|$acc"
}
echo "clock: $clock"
printf "%-3s | %-40s | %9s | %9s | %7s | %s\n" K prompt "plain t/s" "mtp t/s" speedup acceptance
for k in $ks; do
  speedups=()
  for p in "${prompts[@]}"; do
    base=$(measure "$p"); base=${base%%|*}
    got=$(measure "$p" --mtp --mtp-draft "$k")
    s=$(awk "BEGIN{printf \"%.2f\", ${got%%|*} / $base}")
    speedups+=("$s")
    printf "%-3s | %-40.40s | %9s | %9s | %6sx | %s\n" "$k" "$p" "$base" "${got%%|*}" "$s" "${got#*|}"
  done
  printf "K=%s median speed-up: %s\n" "$k" "$(printf "%s\n" "${speedups[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')"
done
