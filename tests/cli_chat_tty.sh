#!/usr/bin/env bash
# `fathom chat` on a real terminal (a tmux pseudo-terminal): the prompt, an answer, line editing
# (Ctrl-A, history with the up arrow), Ctrl-C on the input line and during an answer (the chat
# goes on), /reset and /exit. Usage: cli_chat_tty.sh FATHOM_BINARY SCRATCH_DIR
set -euo pipefail
FATHOM=$1
TMP=$2
mkdir -p "$TMP"
MODEL=$TMP/tiny-v3-deep
# More layers than the preset: answers take long enough for a Ctrl-C to land inside one.
[ -f "$MODEL/tokenizer.json" ] || "$FATHOM" synth --preset tiny-v3 --layers 24 --dtype bf16 --seed 3 --out "$MODEL" > /dev/null 2>&1

SOCK=fathom-chat-test-$$
T="tmux -L $SOCK"
cleanup() { $T kill-server 2> /dev/null || true; }
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  echo "---- screen ----"
  $T capture-pane -p -t chat 2> /dev/null || true
  exit 1
}
screen() { $T capture-pane -p -t chat; }
prompts() { screen | grep -c '^>>>' || true; }
wait_for() {  # wait_for DESCRIPTION COMMAND...: until the command succeeds, at most 60 s
  local what=$1
  shift
  for _ in $(seq 600); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  fail "timed out waiting for $what"
}
at_least_prompts() { [ "$(prompts)" -ge "$1" ]; }
screen_has() { screen | grep -qF -- "$1"; }

$T new-session -d -s chat -x 160 -y 50 \
  "$FATHOM chat $MODEL --temp 0 -n 6 --system 'Be brief.'; echo EXITED:\$?; sleep 30"
wait_for "the first prompt" at_least_prompts 1
screen_has "fathom chat: context" || fail "no banner"

# 1. An answer: the same text as `fathom run --chat` (letters and digits compared, so that odd
#    characters of a random model cannot confuse the check).
$T send-keys -t chat 'Hello' Enter
wait_for "the second prompt" at_least_prompts 2
expected=$("$FATHOM" run "$MODEL" --chat --system 'Be brief.' -p Hello --temp 0 -n 6 2> /dev/null | tr -cd '[:alnum:]')
got=$(screen | tr -cd '[:alnum:]')
[[ "$got" == *"${expected}"* ]] || fail "answer '$expected' not on screen"

# 2. Line editing: type "orld", Ctrl-A, "W" gives "World"; the up arrow brings it back.
$T send-keys -t chat 'orld' C-a 'W' Enter
wait_for "the third prompt" at_least_prompts 3
screen | grep -q '^>>> World$' || fail "edited line is not 'World'"
$T send-keys -t chat Up
wait_for "history recall" bash -c "$T capture-pane -p -t chat | grep -v '^$' | tail -n 1 | grep -q '^>>> World'"
$T send-keys -t chat C-u

# 3. Ctrl-C on the input line drops the line and keeps the chat.
$T send-keys -t chat 'never sent' C-c
wait_for "the prompt after ^C" at_least_prompts 4
screen_has "never sent^C" || fail "no ^C echo"

# 4. Ctrl-C during a long answer stops it, and the chat goes on. --ignore-eos makes the answer run
#    to the full context (thousands of tokens), far past the 0.1 s before the Ctrl-C: waiting for
#    a random model to talk long enough raced with the kernels getting faster.
$T send-keys -t chat '/reset' Enter
wait_for "/reset" screen_has "(conversation cleared)"
n=$(prompts)
$T kill-session -t chat
$T new-session -d -s chat -x 160 -y 50 "$FATHOM chat $MODEL --temp 0 --ignore-eos; echo EXITED:\$?; sleep 30"
wait_for "the prompt of the second session" at_least_prompts 1
$T send-keys -t chat 'Tell me a long story' Enter
sleep 0.1
$T send-keys -t chat C-c
wait_for "the prompt after stopping" at_least_prompts 2
# The random model's bytes leave the marker anywhere on a line, so the terminal may wrap it in two:
# look for it in the screen with the line breaks taken out.
screen | tr -d '\n' | grep -qF -- "[stopped]" || fail "the long answer was not marked stopped"
$T send-keys -t chat '/exit' Enter
wait_for "exit" screen_has "EXITED:0"
echo "PASS (prompts: $n)"
