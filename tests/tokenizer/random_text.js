// Seeded random text for the conformance tests: short runs drawn from many scripts, whitespace
// kinds, digits of several numeral systems, punctuation and symbols, emoji sequences (ZWJ, skin
// tones, flags, keycaps), combining marks, and the text of special tokens, glued together so the
// boundaries between kinds (where pre-tokenizer regexes differ most) are exercised.
"use strict";

function rng(seed) {  // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ranges = [
  [0x41, 0x5a], [0x61, 0x7a], [0x61, 0x7a], [0x61, 0x7a], [0x30, 0x39], [0x21, 0x2f], [0x3a, 0x40],
  [0x5b, 0x60], [0x7b, 0x7e], [0xa1, 0xff], [0x100, 0x17f], [0x300, 0x36f], [0x370, 0x3ff],
  [0x400, 0x4ff], [0x530, 0x58f], [0x590, 0x5ff], [0x600, 0x6ff], [0x660, 0x669], [0x900, 0x97f],
  [0x966, 0x96f], [0xe00, 0xe7f], [0x10a0, 0x10ff], [0x1100, 0x11ff], [0x1e00, 0x1eff],
  [0x2000, 0x206f], [0x2070, 0x209f], [0x20a0, 0x20cf], [0x2100, 0x214f], [0x2150, 0x218f],
  [0x2190, 0x21ff], [0x2200, 0x22ff], [0x2460, 0x24ff], [0x2500, 0x257f], [0x2600, 0x26ff],
  [0x3000, 0x303f], [0x3040, 0x309f], [0x30a0, 0x30ff], [0x3100, 0x312f], [0x3400, 0x4dbf],
  [0x4e00, 0x9fff], [0x4e00, 0x9fa5], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfb00, 0xfb4f],
  [0xfe00, 0xfe0f], [0xfe30, 0xfe4f], [0xff00, 0xffef], [0x1d400, 0x1d7ff], [0x1f300, 0x1f5ff],
  [0x1f600, 0x1f64f], [0x1f900, 0x1f9ff], [0x20000, 0x2a6df], [0xe000, 0xe0ff], [0x1f1e6, 0x1f1ff],
];
// Blocks with characters assigned after Unicode 14 (PCRE2's data): regex.cpp's category delta
// must cover these. Normalization and case tables are Unicode 14, so tests of normalizers leave
// them out (randomText(r, specials, false)).
const newerRanges = [
  [0x1fa70, 0x1faff], [0x1f7e0, 0x1f7ff], [0x2ebf0, 0x2ee5f], [0x31350, 0x323af], [0x11f00, 0x11f5f],
  [0x10d40, 0x10d8f], [0x1e030, 0x1e08f], [0x1df00, 0x1dfff], [0x16d40, 0x16d7f], [0xa7c0, 0xa7ff],
];
const whitespace = [" ", " ", " ", "  ", "\n", "\n\n", "\r\n", "\t", "\r", " \n", "\u00a0", "\u3000",
  "\u2009", "\u200b", "\u0085", "\u2028", "\u000b", "\u000c", "\u180e", "\ufeff", "   \n  "];
const emoji = ["👨‍👩‍👧‍👦", "👍🏽", "👍🏿", "🏳️‍🌈", "🇯🇵", "🇺🇸", "1️⃣", "#️⃣", "❤️‍🔥", "🧑🏻‍💻", "☺︎", "✔️", "🫠"];
const words = ["the", "The", " of", "ing", "'s", "'ll", "'RE", "http://", ".com", "0x", "____", "...",
  "```", "{\"a\":", "\\n", "</think>", "<think>", "中文", "テスト", "한국", "नमस्ते", "مرحبا", "สวัสดี"];

function randomText(r, specials, newer = true) {
  const pick = (arr) => arr[Math.floor(r() * arr.length)];
  const blocks = newer ? ranges.concat(newerRanges) : ranges;
  const parts = [];
  const n = 1 + Math.floor(r() * 12);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.45) {
      const [lo, hi] = pick(blocks);
      const len = 1 + Math.floor(r() * 6);
      let s = "";
      for (let j = 0; j < len; j++) s += String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
      parts.push(s);
    } else if (k < 0.65) parts.push(pick(whitespace));
    else if (k < 0.75) parts.push(pick(words));
    else if (k < 0.83) parts.push(pick(emoji));
    else if (k < 0.93) parts.push(String(Math.floor(r() * 10 ** (1 + Math.floor(r() * 9)))));
    else if (specials.length) parts.push(pick(specials));
  }
  return parts.join("");
}

module.exports = { rng, randomText };
