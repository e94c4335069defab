#!/usr/bin/env bash
# Decode speed with and without structured output (docs/PERFORMANCE.md): `fathom run` on one thread,
# the same prompt and seed, free text vs --json (any object) vs --json-schema (an object with a
# pattern, a range, an enum and a free string that keeps the model writing), interleaved A B C A B C
# ROUNDS times; prints each run's generation tok/s and the medians. Run it under
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
run() {  # prints "tokens tok/s" of one run
  "$fathom" run "$model" --chat -p "A person as JSON" -t 1 --seed 1 -n "$tokens" "$@" 2>&1 >/dev/null |
    sed -n 's/.*generation: \([0-9]*\) tokens, [0-9.]* s, \([0-9.]*\) tok\/s.*/\1 \2/p'
}
for i in $(seq "$rounds"); do
  echo "free $(run --ignore-eos)" | tee -a "$tmp/all"
  echo "json $(run --json)" | tee -a "$tmp/all"
  echo "schema $(run --json-schema "$tmp/schema.json")" | tee -a "$tmp/all"
done
for k in free json schema; do
  awk -v k="$k" '$1 == k { print $3 }' "$tmp/all" | sort -n |
    awk -v k="$k" '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "median %-6s %.1f tok/s\n", k, m }'
done
