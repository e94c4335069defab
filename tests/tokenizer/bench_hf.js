#!/usr/bin/env node
// Hugging Face side of the encode benchmark:
//   node bench_hf.js TOKENIZER_JSON TEXT_FILE            the whole file as one text
//   node bench_hf.js TOKENIZER_JSON JSONL_FILE --jsonl   one JSON string per line, as one batch
// Parallelism is off, so tokenizers encodes on one thread. Prints wall and process CPU time
// (the machine may be shared), best of 3 runs.
"use strict";
process.env.RAYON_NUM_THREADS = "1";
process.env.TOKENIZERS_PARALLELISM = "false";
const fs = require("fs");
const path = require("path");
const { Tokenizer } = require("./refs.js").load("tokenizers");
const [tj, file, mode] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tj);
const raw = fs.readFileSync(file, "utf8");
const texts = mode === "--jsonl" ? raw.split("\n").filter((l) => l).map((l) => JSON.parse(l)) : [raw];
const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t), 0);
(async () => {
  let best = null;
  for (let i = 0; i < 3; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const encs = texts.length === 1 ? [await tok.encode(texts[0], null, { addSpecialTokens: false })]
      : await tok.encodeBatch(texts, { addSpecialTokens: false });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    const tokens = encs.reduce((a, e) => a + e.getIds().length, 0);
    if (!best || cpu < best.cpu) best = { wall, cpu, tokens };
  }
  console.log(`hf tokenizers: ${bytes} bytes in ${texts.length} text(s) -> ${best.tokens} tokens: ` +
    `wall ${best.wall.toFixed(3)} s (${(bytes / best.wall / 1e6).toFixed(2)} MB/s), ` +
    `cpu ${best.cpu.toFixed(3)} s (${(bytes / best.cpu / 1e6).toFixed(2)} MB/s)`);
})();
