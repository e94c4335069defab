// Random JSON schemas of the supported subset (docs/SERVER.md, src/generation/json_schema.h), outputs
// sampled under each with fathom's token mask (fathom_json_schema_sample, over a real tokenizer's
// vocabulary), and every output checked with ajv, an independent JSON-schema validator: it must
// parse and validate. Fails on any schema fathom does not compile, any dead end, any unfinished
// walk and any invalid output.
//   node tests/structured/random_schemas.mjs SAMPLER TOKENIZER TMP [--schemas N] [--seeds K]
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'npm', 'package.json'));
const Ajv = require('ajv');

const [SAMPLER, TOKENIZER, TMP] = process.argv.slice(2, 5);
if (!SAMPLER || !TOKENIZER || !TMP) {
  console.error('usage: node random_schemas.mjs SAMPLER TOKENIZER TMP [--schemas N] [--seeds K]');
  process.exit(2);
}
const opt = (name, d) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const N = opt('--schemas', 700), K = opt('--seeds', 3);

// A seeded generator, so a failure can be reproduced.
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = a => a[int(0, a.length - 1)];
const chance = p => rand() < p;

const PATTERNS = ['^[a-z]{1,8}$', '^\\d{3}-\\d{4}$', '^[A-Z][a-z]*( [A-Z][a-z]*)?$', '^ab', '^(yes|no|maybe)$',
                  '^\\w+@\\w+\\.(com|org)$', '^[^"\\\\]{0,5}$', '^é?[0-9a-f]{2,4}$', '\\s', '^.{2}$'];
const WORDS = ['alpha', 'beta', 'city', 'name', 'x', 'the key', 'é', 'a"b', 'n1', 'value'];
const number = () => pick([0, 1, -1, 2.5, -3.25, 10, 100, 0.1, 7, -50, 1e3]);

function scalar() {
  switch (int(0, 7)) {
    case 0: return { type: 'string' };
    case 1: return { type: 'string', pattern: pick(PATTERNS) };
    case 2: {
      const s = { type: 'integer' };
      const lo = int(-100, 100);
      if (chance(0.6)) s[chance(0.5) ? 'minimum' : 'exclusiveMinimum'] = lo;
      if (chance(0.6)) s[chance(0.5) ? 'maximum' : 'exclusiveMaximum'] = lo + int(2, 300);
      return s;
    }
    case 3: {
      const s = { type: 'number' };
      const lo = number();
      if (chance(0.6)) s[chance(0.5) ? 'minimum' : 'exclusiveMinimum'] = lo;
      if (chance(0.6)) s[chance(0.5) ? 'maximum' : 'exclusiveMaximum'] = lo + pick([0.5, 1, 3.75, 1000]);
      return s;
    }
    case 4: return { type: 'boolean' };
    case 5: return { type: 'null' };
    case 6: {
      const values = Array.from({ length: int(1, 4) }, () => pick([pick(WORDS), int(-5, 50), null, true, 2.5]));
      return { enum: [...new Set(values)] };
    }
    default: return { const: pick([pick(WORDS), int(0, 9), false]) };
  }
}

function schema(depth) {
  if (depth >= 3 || chance(0.35)) return scalar();
  switch (int(0, 3)) {
    case 0: {
      const s = { type: 'array', items: schema(depth + 1) };
      if (chance(0.5)) s.minItems = int(0, 2);
      if (chance(0.5)) s.maxItems = (s.minItems ?? 0) + int(0, 3);
      return s;
    }
    case 1: {
      const props = {};
      for (const w of WORDS.slice(0, int(0, 4))) props[chance(0.3) ? pick(WORDS) + w : w] = schema(depth + 1);
      const s = { type: 'object', properties: props };
      const names = Object.keys(props);
      if (names.length && chance(0.7)) s.required = names.filter(() => chance(0.5));
      if (chance(0.5)) s.additionalProperties = false;
      return s;
    }
    case 2: return { anyOf: Array.from({ length: int(2, 3) }, () => schema(depth + 1)) };
    default: return chance(0.5) ? { type: ['string', 'null'] } : { type: 'object' };
  }
}

fs.mkdirSync(TMP, { recursive: true });
const schemas = Array.from({ length: N }, () => schema(0));
const schemaFile = path.join(TMP, 'schemas.jsonl'), outFile = path.join(TMP, 'outputs.jsonl');
fs.writeFileSync(schemaFile, schemas.map(s => JSON.stringify(s)).join('\n') + '\n');
const t0 = Date.now();
execFileSync(SAMPLER, [TOKENIZER, schemaFile, String(K), outFile], { stdio: 'inherit' });
const sampleMs = Date.now() - t0;

const ajv = new Ajv({ allErrors: true });
const validators = schemas.map(s => ajv.compile(s));
let valid = 0;
const failures = [];
for (const line of fs.readFileSync(outFile, 'utf8').split('\n').filter(Boolean)) {
  const r = JSON.parse(line);
  const s = JSON.stringify(schemas[r.schema]);
  if (r.error !== undefined) { failures.push(`schema ${s} did not compile: ${r.error}`); continue; }
  if (r.dead_end !== undefined) { failures.push(`dead end under ${s} after ${JSON.stringify(r.dead_end)}`); continue; }
  if (r.unfinished !== undefined) { failures.push(`no end under ${s}: ${JSON.stringify(r.unfinished)}`); continue; }
  let value;
  try {
    value = JSON.parse(r.output);
  } catch (e) {
    failures.push(`not JSON under ${s}: ${JSON.stringify(r.output)} (${e.message})`);
    continue;
  }
  const v = validators[r.schema];
  if (v(value)) ++valid;
  else failures.push(`invalid under ${s}: ${r.output} (${ajv.errorsText(v.errors)})`);
}
console.log(`${N} schemas x ${K} seeds: ${valid} outputs valid, ${failures.length} failures (sampling ${sampleMs} ms)`);
for (const f of failures.slice(0, 20)) console.log('FAIL ' + f);
assert.equal(failures.length, 0);
assert.equal(valid, N * K);
