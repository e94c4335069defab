#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for SECONDS each (docs/HARDENING.md).
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# New inputs go to BUILD_DIR/corpus/<target>; the committed seeds in fuzz/corpus/<target> are read
# only. A crash, sanitizer report, leak, uncaught exception or an input slower than -timeout stops
# that target with its input saved as BUILD_DIR/findings/<target>/crash-* (or leak-, timeout-, oom-)
# and makes this script fail after the others have run.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_safetensors fuzz_safetensors_index fuzz_config fuzz_tokenizer fuzz_jinja
                                      fuzz_openai_request)

# Largest input per target: room for what each format needs (the tokenizer seed is ~6 KB), small
# enough that an execution stays fast.
declare -A max_len=([fuzz_safetensors]=4096 [fuzz_safetensors_index]=4096 [fuzz_config]=4096
                    [fuzz_tokenizer]=16384 [fuzz_jinja]=8192 [fuzz_openai_request]=8192)
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/findings/$t"
  echo "[fuzz] $t for ${seconds}s"
  if ! "$build/fuzz/$t" -max_total_time="$seconds" -max_len="${max_len[$t]:-8192}" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/findings/$t/" \
      "$build/corpus/$t" "fuzz/corpus/$t" > "$build/findings/$t.log" 2>&1; then
    failed+=("$t")
    grep -E '^==[0-9]+==ERROR|^SUMMARY|ALARM|Test unit written' "$build/findings/$t.log" | head -5
  fi
  grep -E '^stat::number_of_executed_units|^Done' "$build/findings/$t.log" | tr '\n' ' '; echo
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "[fuzz] FAILED: ${failed[*]} (logs and inputs in $build/findings/)"
  exit 1
fi
