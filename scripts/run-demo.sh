#!/usr/bin/env bash
# `make run`: the main job. With the shipped default model, generate from it; otherwise show the
# engine working end to end on a synthesized DeepSeek-V3-shaped checkpoint.
set -euo pipefail
FATHOM=${1:-build/fathom}
cd "$(dirname "$0")/.."
if [ -f models/default/config.json ] && "$FATHOM" --help 2>/dev/null | grep -q "^ *run "; then
  exec "$FATHOM" run models/default -p "And God said" -n 80 --temp 0.7 --seed 1
fi
DEMO=build/demo-tiny-v3
if [ ! -f "$DEMO/config.json" ]; then
  "$FATHOM" synth --preset tiny-v3 --dtype fp8 --out "$DEMO" --seed 1
fi
echo "== fathom info $DEMO (random weights, DeepSeek-V3 architecture: MLA, MoE with noaux_tc routing, MTP, FP8)"
"$FATHOM" info "$DEMO"
echo "== fathom logits: prefill (expanded MLA) vs decode (absorbed MLA over the latent cache)"
"$FATHOM" logits "$DEMO" --ids 0,17,42,99,250 --out build/demo-prefill.npy --mtp-out build/demo-mtp.npy
"$FATHOM" logits "$DEMO" --ids 0,17,42,99,250 --out build/demo-decode.npy --mode decode
if command -v python3 > /dev/null && /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  /usr/bin/python3 - <<'PY'
import numpy as np
p, d, m = (np.load(f"build/demo-{n}.npy") for n in ("prefill", "decode", "mtp"))
print(f"logits {p.shape}, MTP logits {m.shape}; prefill vs decode relative L2 = {np.linalg.norm(p-d)/np.linalg.norm(p):.2e}")
print("argmax next tokens:", p.argmax(-1).tolist())
PY
fi
if "$FATHOM" --help 2>/dev/null | grep -q "^ *run "; then
  echo "== fathom run (random weights: expect gibberish, at speed)"
  "$FATHOM" run "$DEMO" -p "Hello" -n 16 --temp 0 || true
fi
