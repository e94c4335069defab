#!/usr/bin/env bash
# fathom vs llama.cpp on the DeepSeek-V2-Lite shape, same bits, same threads, same run.
#   scripts/bench-v2lite.sh MODELS_DIR [LAYERS]       (4 layers by default; e.g. build/models)
# The models are written into MODELS_DIR (kept between runs). peer-bench (make_gguf.py, llama.cpp's
# runner) is expected beside the repository, at ../shared/peer-bench, or where PEER says.
# Per-layer shapes are V2-Lite's (fathom synth --preset v2-lite; peer-bench make_gguf.py --preset
# v2-lite); fewer layers keep the files small enough to write in minutes. The source checkpoint is
# bf16, or fp8 (half the disk) when SRC_DTYPE=fp8: the full 27 layers are 31 GB in bf16, 16 GB in
# fp8 (~20 min to write), then 9 / 17 GB per quantized type and as much again for each GGUF. Run as
# root on a quiet machine: both engines run under `chrt -r 1` (see ../shared/peer-bench/README.md).
set -euo pipefail
DIR=$(realpath -m "${1:?usage: scripts/bench-v2lite.sh MODELS_DIR [LAYERS]}")
cd "$(dirname "$0")/.."
LAYERS=${2:-4}
PEER=${PEER:-../shared/peer-bench}
FATHOM=${FATHOM:-build/fathom}
SRC_DTYPE=${SRC_DTYPE:-bf16}
mkdir -p "$DIR"
[ -f "$PEER/make_gguf.py" ] || { echo "peer-bench not found at $PEER (set PEER=DIR)" >&2; exit 1; }
[ -d "$PEER/node_modules/node-llama-cpp" ] || (cd "$PEER" && npm install --omit=optional --ignore-scripts --no-audit --no-fund)
SRC="$DIR/v2lite$LAYERS-$SRC_DTYPE"
[ -f "$SRC/config.json" ] ||
  "$FATHOM" synth --preset v2-lite --layers "$LAYERS" --dtype "$SRC_DTYPE" --out "$SRC" --seed 1
for t in q4_0 q8_0; do
  [ -f "$DIR/v2lite$LAYERS-$t/config.json" ] ||
    "$FATHOM" quantize "$SRC" "$DIR/v2lite$LAYERS-$t" --type $t
  # llama.cpp's file with the same choice of bits: experts/attention at $t, embedding and output at q8_0.
  [ -f "$DIR/v2lite$LAYERS-$t.gguf" ] ||
    /usr/bin/python3 "$PEER/make_gguf.py" --preset v2-lite --layers "$LAYERS" --type $t --output-type q8_0 \
      --embd-type q8_0 "$DIR/v2lite$LAYERS-$t.gguf"
done
for t in q4_0 q8_0; do
  echo "== fathom $t"
  chrt -r 1 "$FATHOM" bench "$DIR/v2lite$LAYERS-$t" -p 512 -n 128 -t 2 -r 3 -d 0,1024,4096,16384 --ceiling
  echo "== fathom $t, 8-bit latent cache"
  chrt -r 1 "$FATHOM" bench "$DIR/v2lite$LAYERS-$t" -p 0 -n 128 -t 2 -r 3 -d 0,1024,4096,16384 --cache-type q8
  echo "== llama.cpp $t"
  chrt -r 1 "$PEER/run_llama_bench.sh" --no-amx "$DIR/v2lite$LAYERS-$t.gguf" --threads 2 --prompt-tokens 512 \
    --gen-tokens 128 --reps 3
done
