#!/usr/bin/env bash
# `fathom run` on a terminal echoes the prompt, then the continuation; piped, stdout holds the
# continuation alone. `script` gives the command a pseudo-terminal.
# Usage: cli_run_tty.sh FATHOM_BINARY SCRATCH_DIR
set -euo pipefail
FATHOM=$1
TMP=$2
mkdir -p "$TMP"
MODEL=$TMP/tiny-v3
[ -f "$MODEL/tokenizer.json" ] || "$FATHOM" synth --preset tiny-v3 --dtype bf16 --seed 1 --out "$MODEL" > /dev/null 2>&1

PROMPT="The capital of France is"
ARGS=(-n 8 --temp 0 -t 1)
piped=$(env -u FATHOM_MODEL "$FATHOM" run "$MODEL" -p "$PROMPT" "${ARGS[@]}" 2> /dev/null)
# The terminal turns \n into \r\n.
tty=$(script -qec "env -u FATHOM_MODEL '$FATHOM' run '$MODEL' -p '$PROMPT' ${ARGS[*]} 2> /dev/null" /dev/null | tr -d '\r')

fail() {
  printf 'FAIL: %s\n--- terminal ---\n%s\n--- piped ---\n%s\n' "$1" "$tty" "$piped"
  exit 1
}
[ -n "$piped" ] || fail "no continuation"
case "$tty" in "$PROMPT"*) ;; *) fail "on a terminal the output does not start with the prompt" ;; esac
case "$piped" in "$PROMPT"*) fail "piped, the output echoes the prompt" ;; esac
[ "${tty#"$PROMPT"}" = "$piped" ] || fail "the continuation differs between terminal and pipe"
echo "ok"
