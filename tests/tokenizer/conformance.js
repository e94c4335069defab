#!/usr/bin/env node
// Tokenizer conformance: fathom against Hugging Face `tokenizers` (the Rust library through its
// Node binding) on the same tokenizer.json and the same texts. Checks identical ids, exact
// round-trip decoding, --bos, invalid UTF-8 and a large input.
//
//   node conformance.js FATHOM_BINARY TOKENIZER_DIR [--seed N] [--random N]
//
// The corpus is tests/tokenizer/corpus/*.txt (whole files, and each line), hand-written edge cases
// below, and seeded random strings drawn from many scripts, whitespace kinds, digits, punctuation,
// emoji sequences and the text of special tokens.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");
const { Tokenizer } = require("./refs.js").load("tokenizers");
const { rng, randomText } = require("./random_text.js");

const [fathom, tokDir, ...rest] = process.argv.slice(2);
if (!fs.existsSync(path.join(tokDir, "tokenizer.json"))) {
  console.log(`SKIP: ${tokDir}/tokenizer.json is missing (run scripts/install-deps.sh)`);
  process.exit(77);
}
const opt = (name, def) => {
  const i = rest.indexOf(name);
  return i >= 0 ? Number(rest[i + 1]) : def;
};
const seed = opt("--seed", 1234);
const nRandom = opt("--random", 3000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fathom-tok-"));
const corpusDir = path.join(__dirname, "corpus");
const hf = Tokenizer.fromFile(path.join(tokDir, "tokenizer.json"));
const config = JSON.parse(fs.readFileSync(path.join(tokDir, "tokenizer_config.json"), "utf8"));
const specials = JSON.parse(fs.readFileSync(path.join(tokDir, "tokenizer.json"), "utf8"))
  .added_tokens.map((t) => t.content);

function run(args, input) {
  return execFileSync(fathom, args, { input, maxBuffer: 1 << 30 }).toString("utf8");
}

// ---- corpus ----
const cases = [
  "", " ", "  ", "\n", "\r\n", "\t", "a", "0", "00", "000", "0000", "1234567890123",
  "hello", " hello", "hello ", "  hello  world  ", "Hello,\nWorld!\r\n", "a\u00a0b", "x\u3000y",
  "12.5%", "$1,234.56", "3.14159265358979", "٣٤٥", "१२३", "௧௨", "Ⅻ", "½¾", "²³",
  "don't I'll we've they're she'd it's O'Neil", "'s 't 're", "CamelCaseWord snake_case_word",
  "https://www.example.com:8080/a/b?c=d&e=f#g", "user@example.com", "C++/C#/F#",
  "!!!???...,,,;;;", "(((nested)))", "[]{}<>", "\"quoted\"", "--flag=value", "a-b-c", "---",
  "....\n\n\n", " \n \n", "\n\n\n\n\n", "\t\t\t", "    indented", "\r\r\r", "\r\n\r\n", " \r\n",
  "ｆｕｌｌｗｉｄｔｈ", "ｶﾀｶﾅ", "한국어", "中文", "日本語", "ひらがなカタカナ", "ー", "々〆〤",
  "👨‍👩‍👧‍👦", "👍🏽", "🏳️‍🌈", "🇯🇵", "1️⃣", "e\u0301", "\u0301", "a\u0300\u0301\u0302",
  "ﬁ", "\u200b", "\u200d", "\ufeff", "\u180e", "\u2028", "\u0085", "\u000b\u000c",
  "<｜begin▁of▁sentence｜>", "<｜User｜>hi<｜Assistant｜>", "x<｜end▁of▁sentence｜>y",
  "<｜User｜><｜User｜>", "<｜User|>", "<|User|>", "<｜", "｜>",
  "\u{10FFFF}", "\u{E000}", "\u{1F600}\u{1F600}", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠀀𠀁", "\u4e00\u9fa5\u9fa6\u9fff",
  "a".repeat(1000), " ".repeat(1000), "\n".repeat(300), "ab".repeat(700), "中".repeat(500),
  "1".repeat(1001), "😀".repeat(200), "a ".repeat(500), "-".repeat(333), "Ġ", "ĠĠ", "Ċ",
];
for (const f of fs.readdirSync(corpusDir).filter((f) => f.endsWith(".txt")).sort()) {
  const text = fs.readFileSync(path.join(corpusDir, f), "utf8");
  cases.push(text);
  for (const line of text.split("\n")) cases.push(line);
}
for (const s of specials.slice(0, 60)) cases.push(`a ${s} b${s}${s}\n${s} `);
const r = rng(seed);
for (let i = 0; i < nRandom; i++) cases.push(randomText(r, specials));

// ---- compare ----
let failures = 0;
function report(msg) {
  failures++;
  if (failures <= 20) console.log("FAIL " + msg);
}

function arraysEqual(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

(async () => {
  const inFile = path.join(tmp, "cases.jsonl");
  fs.writeFileSync(inFile, cases.map((c) => JSON.stringify(c)).join("\n") + "\n");
  const got = run(["tokenize", tokDir, "--text-file", inFile, "--jsonl"]).trim().split("\n");
  if (got.length !== cases.length) throw new Error(`expected ${cases.length} lines, got ${got.length}`);
  const ids = [];
  for (let i = 0; i < cases.length; i++) {
    const want = (await hf.encode(cases[i], null, { addSpecialTokens: false })).getIds();
    const have = JSON.parse(got[i]);
    ids.push(want);
    if (!arraysEqual(want, have))
      report(`ids differ for ${JSON.stringify(cases[i]).slice(0, 200)}\n  hf:     ${JSON.stringify(want).slice(0, 300)}\n  fathom: ${JSON.stringify(have).slice(0, 300)}`);
  }
  const encodeCount = cases.length;

  // Round trip: fathom's decode gives back the exact text, and agrees with Hugging Face's.
  const idsFile = path.join(tmp, "ids.jsonl");
  fs.writeFileSync(idsFile, ids.map((x) => JSON.stringify(x)).join("\n") + "\n");
  const decoded = run(["detokenize", tokDir, "--jsonl", idsFile]).trim().split("\n");
  for (let i = 0; i < cases.length; i++) {
    const text = JSON.parse(decoded[i]);
    if (text !== cases[i]) report(`round trip differs for ${JSON.stringify(cases[i]).slice(0, 200)}: ${JSON.stringify(text).slice(0, 200)}`);
  }
  // Decoding arbitrary id sequences (partial characters, special tokens, skip_special).
  const vocab = hf.getVocabSize(true);
  const idSeqs = [];
  for (let i = 0; i < 300; i++) {
    const n = Math.floor(r() * 12);
    idSeqs.push(Array.from({ length: n }, () => (r() < 0.2 ? vocab - 1 - Math.floor(r() * 815) : Math.floor(r() * vocab))));
  }
  fs.writeFileSync(idsFile, idSeqs.map((x) => JSON.stringify(x)).join("\n") + "\n");
  for (const skip of [false, true]) {
    const args = ["detokenize", tokDir, "--jsonl", idsFile];
    if (skip) args.push("--skip-special");
    const out = run(args).trim().split("\n");
    for (let i = 0; i < idSeqs.length; i++) {
      const want = await hf.decode(idSeqs[i], skip);
      if (JSON.parse(out[i]) !== want) report(`decode(${JSON.stringify(idSeqs[i])}, skip=${skip}): hf ${JSON.stringify(want)} fathom ${out[i]}`);
    }
  }

  // --bos follows tokenizer_config.json (add_bos_token / add_eos_token), as transformers does.
  const bosFile = path.join(tmp, "bos.txt");
  fs.writeFileSync(bosFile, "Hello there");
  const withBos = JSON.parse(run(["tokenize", tokDir, "--text-file", bosFile, "--bos"]));
  const plain = (await hf.encode("Hello there", null, { addSpecialTokens: false })).getIds();
  const bosId = hf.tokenToId(typeof config.bos_token === "string" ? config.bos_token : config.bos_token.content);
  const expectBos = [...(config.add_bos_token ? [bosId] : []), ...plain];
  if (!arraysEqual(withBos, expectBos)) report(`--bos: ${JSON.stringify(withBos)} vs ${JSON.stringify(expectBos)}`);

  // Invalid UTF-8 is read as a JavaScript / Python caller would decode it: U+FFFD per maximal
  // invalid subsequence.
  const bad = path.join(corpusDir, "invalid_utf8.bin");
  const badIds = JSON.parse(run(["tokenize", tokDir, "--text-file", bad]));
  const badWant = (await hf.encode(fs.readFileSync(bad).toString("utf8"), null, { addSpecialTokens: false })).getIds();
  if (!arraysEqual(badIds, badWant)) report(`invalid UTF-8: ${JSON.stringify(badIds)} vs ${JSON.stringify(badWant)}`);

  // A large input in one piece (about 2 MB): everything above, repeated with random text.
  const big = [];
  let size = 0;
  while (size < 2e6) {
    const c = cases[Math.floor(r() * cases.length)];
    big.push(c);
    size += Buffer.byteLength(c);
  }
  const bigText = big.join(r() < 0.5 ? "\n" : " ");
  const bigFile = path.join(tmp, "big.txt");
  fs.writeFileSync(bigFile, bigText);
  const bigHave = JSON.parse(run(["tokenize", tokDir, "--text-file", bigFile]));
  const bigWant = (await hf.encode(bigText, null, { addSpecialTokens: false })).getIds();
  if (!arraysEqual(bigHave, bigWant)) {
    let k = 0;
    while (bigHave[k] === bigWant[k]) k++;
    report(`large input differs at token ${k}: hf ${bigWant.slice(k, k + 8)} fathom ${bigHave.slice(k, k + 8)}`);
  }

  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(`tokenizer conformance: ${encodeCount} texts, ${idSeqs.length * 2} id sequences, 1 large input`);
  console.log(`${failures === 0 ? 1 : 0} passed, ${failures === 0 ? 0 : 1} failed`);
  process.exit(failures === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
