#!/usr/bin/env node
// Writes the encode benchmark's input: node bench_text.js OUT [MEGABYTES=12]
// Deterministic: the corpus files (prose in many scripts, code, whitespace, special tokens) in
// shuffled line order, interleaved with seeded random text, until the size is reached.
"use strict";
const fs = require("fs");
const path = require("path");
const { rng, randomText } = require("./random_text.js");

const [out, mb = "12"] = process.argv.slice(2);
const dir = path.join(__dirname, "corpus");
const lines = [];
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".txt")).sort())
  lines.push(...fs.readFileSync(path.join(dir, f), "utf8").split("\n"));
const r = rng(7);
const parts = [];
let size = 0;
while (size < Number(mb) * 1e6) {
  const s = r() < 0.6 ? lines[Math.floor(r() * lines.length)] + "\n" : randomText(r, []) + " ";
  parts.push(s);
  size += Buffer.byteLength(s);
}
fs.writeFileSync(out, parts.join(""));
