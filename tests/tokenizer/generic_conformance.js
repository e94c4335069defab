#!/usr/bin/env node
// Conformance on tokenizer.json files built here, to cover the parts of the format the DeepSeek
// tokenizer does not use: normalizers (NFC, NFKC, NFD, NFKD, Lowercase, Replace, Prepend, Strip,
// Sequence), Split with every behaviour and invert, String patterns, Digits, ByteLevel with and
// without its regex and prefix space, merges as ["a", "b"] pairs, ignore_merges, added tokens with
// lstrip / rstrip / single_word / normalized flags, and a TemplateProcessing post-processor.
//
//   node generic_conformance.js FATHOM_BINARY DEEPSEEK_TOKENIZER_DIR
//
// The BPE model is DeepSeek-V3's, cut down to its first 30000 ids and the merges that stay inside
// them (still a valid byte-level BPE), so each variant loads quickly.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");
const { Tokenizer } = require("./refs.js").load("tokenizers");
const { rng, randomText } = require("./random_text.js");

const [fathom, dsDir] = process.argv.slice(2);
if (!fs.existsSync(path.join(dsDir, "tokenizer.json"))) {
  console.log(`SKIP: ${dsDir}/tokenizer.json is missing (run scripts/install-deps.sh)`);
  process.exit(77);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fathom-gen-"));
const base = JSON.parse(fs.readFileSync(path.join(dsDir, "tokenizer.json"), "utf8"));

const vocab = Object.create(null);  // a plain {} would "contain" toString
for (const [t, id] of Object.entries(base.model.vocab)) if (id < 30000) vocab[t] = id;
const merges = [];
for (const m of base.model.merges) {
  const [a, b] = typeof m === "string" ? m.split(" ") : m;
  if (a in vocab && b in vocab && a + b in vocab) merges.push(m);
}
const model = { ...base.model, vocab, merges };
const pairModel = { ...model, merges: merges.map((m) => (typeof m === "string" ? m.split(" ") : m)) };

const split = (pattern, behavior, invert = false) => ({ type: "Split", pattern, behavior, invert });
const byteLevel = (add_prefix_space, use_regex) =>
  ({ type: "ByteLevel", add_prefix_space, trim_offsets: true, use_regex });
const seq = (...pretokenizers) => ({ type: "Sequence", pretokenizers });
const added = (id, content, flags = {}) => ({
  id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true, ...flags,
});

const variants = {
  gpt2_style: { pre: byteLevel(false, true) },
  prefix_space: { pre: byteLevel(true, true) },
  prefix_space_after_split: { pre: seq(split({ Regex: "\\s+" }, "Isolated"), byteLevel(true, false)) },
  nfc: { norm: { type: "NFC" }, pre: byteLevel(false, true) },
  nfd: { norm: { type: "NFD" }, pre: byteLevel(false, true) },
  nfkc: { norm: { type: "NFKC" }, pre: byteLevel(false, true) },
  nfkd: { norm: { type: "NFKD" }, pre: byteLevel(false, true) },
  lowercase: { norm: { type: "Lowercase" }, pre: byteLevel(false, true) },
  norm_sequence: {
    norm: { type: "Sequence", normalizers: [
      { type: "NFKC" },
      { type: "Replace", pattern: { String: "  " }, content: " " },
      { type: "Replace", pattern: { Regex: "\\d+" }, content: "#" },
      { type: "Prepend", prepend: "▁" },
      { type: "Strip", strip_left: false, strip_right: true },
    ] },
    pre: byteLevel(false, true),
  },
  isolated: { pre: seq(split({ Regex: "\\s+" }, "Isolated"), byteLevel(false, false)) },
  removed: { pre: seq(split({ Regex: "[\\s,.]+" }, "Removed"), byteLevel(false, false)) },
  merged_prev: { pre: seq(split({ Regex: "\\s" }, "MergedWithPrevious"), byteLevel(false, false)) },
  merged_next: { pre: seq(split({ Regex: "\\s" }, "MergedWithNext"), byteLevel(false, false)) },
  contiguous: { pre: seq(split({ Regex: "\\p{P}" }, "Contiguous"), byteLevel(false, false)) },
  invert_isolated: { pre: seq(split({ Regex: "\\p{L}+" }, "Isolated", true), byteLevel(false, false)) },
  invert_removed: { pre: seq(split({ Regex: "\\p{L}+|\\p{N}" }, "Removed", true), byteLevel(false, false)) },
  invert_merged_next: { pre: seq(split({ Regex: "\\p{L}+" }, "MergedWithNext", true), byteLevel(false, false)) },
  string_pattern: { pre: seq(split({ String: ", " }, "MergedWithPrevious"), byteLevel(false, true)) },
  digits_individual: { pre: seq({ type: "Digits", individual_digits: true }, byteLevel(false, true)) },
  digits_grouped: { pre: seq({ type: "Digits", individual_digits: false }, byteLevel(false, false)) },
  llama3_pattern: {
    pre: seq(split({ Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, "Isolated"), byteLevel(false, false)),
  },
  pair_merges_ignore_merges: { pre: byteLevel(false, true), model: { ...pairModel, ignore_merges: true } },
  added_flags: {
    norm: { type: "NFKC" },
    pre: byteLevel(false, true),
    added: [
      added(30000, "<|special|>"),
      added(30001, "[LSTRIP]", { lstrip: true }),
      added(30002, "[RSTRIP]", { rstrip: true }),
      added(30003, "word", { single_word: true, special: false }),
      added(30004, "ﬁx", { normalized: true, special: false }),
      added(30005, "<|special|>long", {}),
      added(30006, "[BOTH]", { lstrip: true, rstrip: true, normalized: true }),
    ],
    post: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|special|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "[RSTRIP]", type_id: 0 } }],
      pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: {
        "<|special|>": { id: "<|special|>", ids: [30000], tokens: ["<|special|>"] },
        "[RSTRIP]": { id: "[RSTRIP]", ids: [30002], tokens: ["[RSTRIP]"] },
      },
    },
  },
};

const texts = [
  "", "Hello, World!", "  leading and trailing  ", "a,b, c,  d", "x1y22z333 4444 55555",
  "ﬁnancial ﬁx ＡＢＣ ½ Å Å e\u0301 ﬃ Ⅻ ㍻", "İstanbul ΣΊΣΥΦΟΣ Straße ǅ", "tab\there\r\nnew\nline",
  "word words sword word_ word. (word)", "x [LSTRIP] y  [LSTRIP]", "x [RSTRIP]  y", "a  [BOTH]  b",
  "<|special|> <|special|>long <|special|>lon", "ﬁx fix ﬁxed", "数字１２３と漢字", "I'M HERE, you'RE there",
  "   ", "\n\n", "😀 👍🏽 family: 👨‍👩‍👧‍👦",
];
const r = rng(99);
const specialsText = ["<|special|>", "[LSTRIP]", "[RSTRIP]", "word", "ﬁx", "[BOTH]"];
for (let i = 0; i < 400; i++) texts.push(randomText(r, specialsText, false));
for (const f of ["multilingual.txt", "code.txt", "whitespace.txt"])
  for (const line of fs.readFileSync(path.join(__dirname, "corpus", f), "utf8").split("\n")) texts.push(line);

let failures = 0;
let checks = 0;
(async () => {
  const inFile = path.join(tmp, "texts.jsonl");
  fs.writeFileSync(inFile, texts.map((t) => JSON.stringify(t)).join("\n") + "\n");
  for (const [name, v] of Object.entries(variants)) {
    const tj = {
      version: "1.0", truncation: null, padding: null, added_tokens: v.added || [],
      normalizer: v.norm || null, pre_tokenizer: v.pre, post_processor: v.post || null,
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: v.model || model,
    };
    const file = path.join(tmp, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(tj));
    const hf = Tokenizer.fromFile(file);
    for (const bos of [false, true]) {
      if (bos && !v.post) continue;
      const args = ["tokenize", file, "--text-file", inFile, "--jsonl"];
      if (bos) args.push("--bos");
      const got = execFileSync(fathom, args, { maxBuffer: 1 << 30 }).toString().trim().split("\n");
      for (let i = 0; i < texts.length; i++) {
        checks++;
        const want = (await hf.encode(texts[i], null, { addSpecialTokens: bos })).getIds();
        if (JSON.stringify(want) !== got[i]) {
          failures++;
          if (failures < 25)
            console.log(`FAIL ${name}${bos ? " (special tokens)" : ""}: ${JSON.stringify(texts[i]).slice(0, 120)}\n  hf:     ${JSON.stringify(want).slice(0, 200)}\n  fathom: ${got[i].slice(0, 200)}`);
        }
      }
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(`generic tokenizer conformance: ${Object.keys(variants).length} tokenizers, ${checks} encodings, ${failures} differ`);
  console.log(`${failures === 0 ? 1 : 0} passed, ${failures === 0 ? 0 : 1} failed`);
  process.exit(failures === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
