#!/usr/bin/env bash
# The tokenizer `fathom synth` writes is a valid Hugging Face tokenizer: the `tokenizers` library
# (tests/npm) loads it and encodes like fathom; it has exactly vocab_size ids, with BOS / EOS at
# config.json's ids. Usage: synth_tokenizer_check.sh FATHOM_BINARY SCRATCH_DIR
set -euo pipefail
FATHOM=$1
TMP=$2
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$TMP"
for preset in tiny-v2-lite tiny-v3; do
  M=$TMP/$preset
  "$FATHOM" synth --preset $preset --out "$M" --dtype bf16 > /dev/null 2>&1
  TEXTS=$TMP/texts.jsonl
  printf '%s\n' '"The capital of France is Paris."' '"Hello, how are you? 12345 <｜User｜>hi<｜Assistant｜><think>x</think>"' \
    '"café ü 日本 \t\n  spaces   and\r\nlines"' '"<｜begin▁of▁sentence｜>the sea, the sea"' > "$TEXTS"
  ours=$("$FATHOM" tokenize "$M" --text-file "$TEXTS" --jsonl 2> /dev/null)
  theirs=$(NODE_PATH=$SRC/npm/node_modules node -e '
    const { Tokenizer } = require("tokenizers");
    const fs = require("fs");
    const [tj, texts, cfg] = process.argv.slice(1);
    (async () => {
      const t = Tokenizer.fromFile(tj);
      const c = JSON.parse(fs.readFileSync(cfg));
      if (t.getVocabSize(true) !== c.vocab_size) throw new Error(`vocab ${t.getVocabSize(true)} != ${c.vocab_size}`);
      if (t.tokenToId("<｜begin▁of▁sentence｜>") !== c.bos_token_id) throw new Error("bos id");
      if (t.tokenToId("<｜end▁of▁sentence｜>") !== c.eos_token_id) throw new Error("eos id");
      for (const line of fs.readFileSync(texts, "utf8").split("\n").filter(Boolean)) {
        const e = await t.encode(JSON.parse(line));
        console.log(JSON.stringify(e.getIds()));
      }
    })().catch(e => { console.error(e.message); process.exit(1); });
  ' "$M/tokenizer.json" "$TEXTS" "$M/config.json")
  if [ "$(echo "$ours" | tr -d ' ')" != "$(echo "$theirs" | tr -d ' ')" ]; then
    echo "FAIL $preset: fathom and Hugging Face tokenizers differ"
    echo "fathom: $ours"
    echo "HF:     $theirs"
    exit 1
  fi
done
echo PASS
