#!/usr/bin/env bash
# What a speculative verification costs (docs/PERFORMANCE.md, "Speculative decoding with MTP"):
#   scripts/bench-speculative.sh MODELS_DIR [PRESET] [LAYERS] [THREADS]
# Synthesizes PRESET (v3 by default: the real DeepSeek-V3 shape, FP8 as released) with LAYERS main
# layers (1: one MoE layer) into MODELS_DIR unless it is there, and runs bench/speculative_bench.cpp
# on it: a verify step of 1+K tokens against a one-token step at a 256-token context, the routed-expert
# bytes each reads, and the experts consecutive tokens share. Then the same on models/default, with
# greedy decoding of 256 tokens from four prompts without and with K = 1..3 drafts (acceptance,
# tokens/s, and a check that the tokens are identical). V3 with one layer is ~30 GB on disk (the
# layer's and the MTP module's 256 experts each; ~2 GB per minute on a quiet machine); v2-lite with
# two layers (one MoE) is 2.2 GB in bf16.
set -euo pipefail
DIR=$(realpath -m "${1:?usage: scripts/bench-speculative.sh MODELS_DIR [PRESET] [LAYERS] [THREADS]}")
cd "$(dirname "$0")/.."
PRESET=${2:-v3}
LAYERS=${3:-1}
THREADS=${4:-0}
DTYPE=$([ "$PRESET" = v3 ] && echo fp8 || echo bf16)
FATHOM=${FATHOM:-build/fathom}
BENCH=build/bench/fathom_speculative_bench
cmake --build build --target fathom fathom_speculative_bench > /dev/null
MODEL="$DIR/$PRESET-l$LAYERS-$DTYPE"
[ -f "$MODEL/config.json" ] ||
  "$FATHOM" synth --preset "$PRESET" --layers "$LAYERS" --dtype "$DTYPE" --out "$MODEL" --seed 1
grep -m1 "Model name" /proc/cpuinfo || true
"$BENCH" "$MODEL" --ctx 256 --steps 64 --reps 9 --kmax 3 --threads "$THREADS"
PROMPTS=$(mktemp)
trap 'rm -f "$PROMPTS"' EXIT
cat > "$PROMPTS" <<'TEXT'
In the beginning God created the heaven and the earth.
And God said, Let there be light: and there was light.
The LORD is my shepherd; I shall not want.
And it came to pass in those days, that there went out a decree
TEXT
"$BENCH" models/default --ctx 64 --steps 64 --reps 9 --kmax 3 --threads 1 --prompts "$PROMPTS" --gen 256
