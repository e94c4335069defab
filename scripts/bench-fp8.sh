#!/usr/bin/env bash
# Native FP8 / BF16 checkpoints against Q8_0 of the same model, before and after (issue 21):
#   scripts/bench-fp8.sh MODELS_DIR [LAYERS]
# Writes into MODELS_DIR (kept between runs): PRESET's shape (default v3) in fp8 and bf16 with LAYERS
# layers (default 1), and the fp8 one quantized to Q8_0. Then, interleaved over ROUNDS rounds (default
# 3), on 2 threads: `fathom bench -p 512 -n 64 --ceiling` of fp8, q8_0 and bf16 with this build
# (FATHOM, default build/fathom) and, when OLD names another build's fathom (the baseline, e.g. main's),
# with that one too; and the kernel bench's read ceiling and F8_E4M3 / BF16 / Q8_0 GEMVs at
# V2-Lite shapes, and the F8_E4M3 / Q8_0 GEMMs at a routed expert's share of pp512 (48 tokens)
# (KBENCH, default build/bench/fathom_kernel_bench; OLD_KBENCH for the baseline's).
# Sizes: v3 with N layers keeps min(3, N - 1) dense ones, so it always holds at least one MoE layer
# (256 experts, 11.3 GB in fp8), plus its MTP layer (another) and 3.7 GB of embedding and lm_head:
# ~28 GB in fp8 at N = 1, as much in Q8_0, twice in bf16. PRESET=v2-lite with 4 layers is 2.7 GB in
# fp8. Run on a quiet machine (under `chrt -r 1` as root when possible).
set -euo pipefail
DIR=$(realpath -m "${1:?usage: scripts/bench-fp8.sh MODELS_DIR [LAYERS]}")
cd "$(dirname "$0")/.."
LAYERS=${2:-1}
PRESET=${PRESET:-v3}
ROUNDS=${ROUNDS:-3}
FATHOM=${FATHOM:-build/fathom}
KBENCH=${KBENCH:-build/bench/fathom_kernel_bench}
RT=$( [ "$(id -u)" = 0 ] && echo "chrt -r 1" || true)
mkdir -p "$DIR"
BASE="$DIR/$PRESET-$LAYERS"
for d in fp8 bf16; do
  [ -f "$BASE-$d/config.json" ] ||
    "$FATHOM" synth --preset "$PRESET" --layers "$LAYERS" --dtype $d --out "$BASE-$d" --seed 1
done
[ -f "$BASE-q8_0/config.json" ] || "$FATHOM" quantize "$BASE-fp8" "$BASE-q8_0" --type q8_0
lscpu | grep -E "^Model name|^CPU family|^Model:"
grep -o -w 'avx512[a-z_0-9]*\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
for round in $(seq "$ROUNDS"); do
  for bin in ${OLD:+"$OLD"} "$FATHOM"; do
    for d in fp8 q8_0 bf16; do
      echo "== round $round: $bin, $d"
      $RT "$bin" bench "$BASE-$d" -p 512 -n 64 -t 2 -r 3 --ceiling
    done
  done
  for kb in ${OLD_KBENCH:+"$OLD_KBENCH"} "$KBENCH"; do
    echo "== round $round: $kb"
    $RT "$kb" --benchmark_filter='ReadCeiling|Gemv/fmt:(2|3|4)/rows:(10944|2048)/cols:(2048|10944)/threads:2|Gemm/fmt:(3|4)/rows:1408/cols:2048/n:48/threads:2' 2>&1 |
      grep -E '^BM_' || true
  done
done
