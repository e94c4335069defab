#!/usr/bin/env bash
# Decode speed with and without structured output (docs/PERFORMANCE.md): `fathom run` on one thread,
# the same prompt and seed, free text vs --json (any object) vs --json-schema (an object with a
# pattern, a range, an enum and a free string that keeps the model writing), interleaved A B C A B C
# ROUNDS times; prints each run's generation tok/s (wall clock) and the process's CPU seconds, and
# the medians of tok/s and of CPU ms per generated token (the process's CPU time, model load
# included, over its tokens: the steadier figure on a loaded machine). Run it under
# `flock /work/wt/bench.lock` beside other benchmarks; it prints the CPU first.
#   scripts/bench-structured-decode.sh [MODEL_DIR] [FATHOM_BINARY] [ROUNDS] [TOKENS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
model="${1:-$here/../models/default}"
fathom="${2:-$here/../build/fathom}"
rounds="${3:-5}"
tokens="${4:-512}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/schema.json" <<'JSON'
{"type": "object", "properties": {"name": {"type": "string", "pattern": "^[A-Z][a-z]{1,10}$"},
 "age": {"type": "integer", "minimum": 0, "maximum": 120}, "role": {"enum": ["admin", "user", "guest"]},
 "bio": {"type": "string"}}, "required": ["name", "age", "role", "bio"], "additionalProperties": false}
JSON
lscpu | grep -E "Model name"
grep -o 'avx512_fp16\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
run() {  # prints "tokens tok/s cpu_seconds" of one run (CPU time of the whole process, load included)
  local line cpu
  line="$(/usr/bin/time -f 'cpu %U %S' "$fathom" run "$model" --chat -p "A person as JSON" -t 1 --seed 1 \
            -n "$tokens" "$@" 2>&1 >/dev/null)"
  cpu="$(echo "$line" | awk '$1 == "cpu" { print $2 + $3 }')"
  echo "$line" | sed -n "s/.*generation: \([0-9]*\) tokens, [0-9.]* s, \([0-9.]*\) tok\/s.*/\1 \2 $cpu/p"
}
for i in $(seq "$rounds"); do
  echo "free $(run --ignore-eos)" | tee -a "$tmp/all"
  echo "json $(run --json)" | tee -a "$tmp/all"
  echo "schema $(run --json-schema "$tmp/schema.json")" | tee -a "$tmp/all"
done
median() { sort -n | awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for k in free json schema; do
  tps="$(awk -v k="$k" '$1 == k { print $3 }' "$tmp/all" | median)"
  cpu="$(awk -v k="$k" '$1 == k { print 1000 * $4 / $2 }' "$tmp/all" | median)"
  printf "median %-6s %7.1f tok/s (wall)  %6.3f CPU ms per token\n" "$k" "$tps" "$cpu"
done
