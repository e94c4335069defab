#!/usr/bin/env bash
# models/default stays coherent past the sequence length it was first trained on (256): greedy
# decoding of 600 tokens from several prompts must not end in a short repeating loop, which is how
# a model collapses past the context it was trained at ("I will I will I will ..."; issue 24).
#
# A loop, precisely: the continuation is re-tokenized with the model's tokenizer (`fathom run`
# prints text, not ids) to ids t[1..n); its tail is a loop when for some period p <= MAX_PERIOD (20)
# at least MIN_MATCH (90) percent of the last WINDOW (200) ids equal the id p before them
# (t[i] == t[i-p]). 90 rather than 100 so that a loop with a stray token in it ("he hath he: he hath")
# still counts; fluent text, even this model's scripture pastiche, matches at any one lag far less.
# The check prints each prompt's best lag and match, so a failure says how close to a loop it was.
# Usage: default_model_long_gen.sh FATHOM_BINARY MODEL_DIR SCRATCH_DIR
set -euo pipefail
FATHOM=$1
MODEL=$2
TMP=$3
N=600
MAX_PERIOD=${MAX_PERIOD:-20}
WINDOW=${WINDOW:-200}
MIN_MATCH=${MIN_MATCH:-90}
mkdir -p "$TMP"

PROMPTS=("And God said" "And it came to pass" "Blessed are the")
failed=0
for i in "${!PROMPTS[@]}"; do
  out=$TMP/gen$i.txt
  env -u FATHOM_MODEL "$FATHOM" run "$MODEL" -p "${PROMPTS[$i]}" -n $N --temp 0 --ignore-eos -t 2 > "$out" 2> "$TMP/gen$i.err" \
    || { cat "$TMP/gen$i.err"; exit 1; }
  ids=$("$FATHOM" tokenize "$MODEL" --text-file "$out" | tr -d '[]' | tr ',' ' ')
  # Best lag p = 1..MAX_PERIOD: the count of i among the last WINDOW ids with t[i] == t[i-p].
  read -r n best_p best <<< "$(echo "$ids" | awk -v P="$MAX_PERIOD" -v W="$WINDOW" '{
      n = NF; best = -1; best_p = 0
      for (p = 1; p <= P; ++p) {
        m = 0
        for (i = n - W + 1; i <= n; ++i) if (i - p >= 1 && $i == $(i - p)) ++m
        if (m > best) { best = m; best_p = p }
      }
      print n, best_p, best }')"
  pct=$((100 * best / WINDOW))
  verdict=ok
  if [ "$n" -lt $((WINDOW + MAX_PERIOD)) ]; then
    verdict="FAIL (only $n tokens of text)"
  elif [ "$pct" -ge "$MIN_MATCH" ]; then
    verdict="FAIL (a loop: $pct% of the last $WINDOW tokens repeat the token $best_p before)"
  fi
  printf '%-22s %d tokens; best lag <= %d: p=%d, %d%% of the last %d tokens repeat: %s\n' \
    "'${PROMPTS[$i]}'" "$n" "$MAX_PERIOD" "$best_p" "$pct" "$WINDOW" "$verdict"
  if [ "$verdict" != ok ]; then
    failed=1
    echo "  tail: ...$(tail -c 300 "$out" | tr '\n' ' ')"
  fi
done
exit $failed
