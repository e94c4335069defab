#!/usr/bin/env bash
# Aggregate decode throughput of `fathom serve` at 1 vs 8 concurrent streams (docs/PERFORMANCE.md).
#   scripts/bench-server.sh MODEL_DIR [FATHOM_BINARY] [extra serve flags...]
# Starts the server on a free loopback port with --parallel 8, runs scripts/bench-server.mjs, and
# stops it. TOKENS (default 128) and STREAMS (default 8) come from the environment.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
model="${1:?usage: bench-server.sh MODEL_DIR [FATHOM_BINARY] [serve flags...]}"
bin="${2:-$here/../build/fathom}"
shift $(( $# >= 2 ? 2 : 1 ))
# EOS ids to bias away: config.json's and the tokenizer's (they differ when a tokenizer was borrowed).
eos=$(python3 - "$model" <<'PY'
import json, os, sys
d = sys.argv[1]
ids = set()
e = json.load(open(os.path.join(d, 'config.json'))).get('eos_token_id')
ids.update(e if isinstance(e, list) else [e] if e is not None else [])
try:
    tc = json.load(open(os.path.join(d, 'tokenizer_config.json')))
    tok = tc.get('eos_token'); tok = tok.get('content') if isinstance(tok, dict) else tok
    for t in json.load(open(os.path.join(d, 'tokenizer.json'))).get('added_tokens', []):
        if t['content'] == tok: ids.add(t['id'])
except (OSError, ValueError):
    pass
print(','.join(str(i) for i in sorted(ids)))
PY
)
log=$(mktemp)
"$bin" serve "$model" --port 0 --parallel "${STREAMS:-8}" --ctx 1024 "$@" 2> "$log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 600); do
  port=$(grep -o 'listening on http://[^:]*:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.5
done
[ -n "$port" ] || { echo "server did not start"; cat "$log"; exit 1; }
head -1 "$log"
node "$here/bench-server.mjs" "http://127.0.0.1:$port" --tokens "${TOKENS:-128}" --streams "${STREAMS:-8}" --eos "$eos"
