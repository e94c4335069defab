// Structured outputs end to end with the official openai client against `fathom serve` on
// models/default (docs/SERVER.md): response_format json_schema (plain and streamed) and json_object
// answers parse and validate with ajv, an independent JSON-schema validator; tool_choice "required"
// and a named function give a tool call whose arguments validate against that tool's parameters; a
// schema outside the supported subset is a 400 naming the keyword; under `serve --mtp` a schema
// request decodes beside a speculating one and still validates. And `fathom run --json-schema /
// --json` on the CLI. Skipped (77) when the checkout has no models/default.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FATHOM, TMP, startServer, client, run } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const MODEL = path.join(here, '..', '..', 'models', 'default');
if (!fs.existsSync(path.join(MODEL, 'config.json'))) {
  console.log('skipped: no models/default in this checkout');
  process.exit(77);
}
const Ajv = createRequire(path.join(here, '..', 'npm', 'package.json'))('ajv');
const ajv = new Ajv({ allErrors: true, strict: false });

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', pattern: '^[A-Z][a-z]{1,10}$' },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    role: { enum: ['admin', 'user', 'guest'] },
    tags: { type: 'array', items: { type: 'string', pattern: '^[a-z]{1,6}$' }, maxItems: 3 },
    score: { anyOf: [{ type: 'number', minimum: 0, maximum: 1 }, { type: 'null' }] },
  },
  required: ['name', 'age', 'role'],
  additionalProperties: false,
};
const WEATHER = { type: 'function', function: { name: 'get_weather', description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string', pattern: '^[A-Z][a-z]{2,12}$' },
    unit: { enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
    required: ['city', 'unit'], additionalProperties: false } } };
const TIME = { type: 'function', function: { name: 'get_time',
  parameters: { type: 'object', properties: { zone: { enum: ['UTC', 'CET', 'PST'] } }, required: ['zone'] } } };
const TOOLS = [WEATHER, TIME];

const server = await startServer(MODEL, ['--parallel', '2', '--ctx', '1024', '--threads', '1']);
const openai = client(server);
const messages = [{ role: 'user', content: 'Give me a record as JSON.' }];
const base = { model: 'default', messages, max_tokens: 900 };

function validates(schema, text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${JSON.stringify(text)} (${e.message})`);
  }
  const v = ajv.compile(schema);
  assert.ok(v(value), `${JSON.stringify(text)} is invalid: ${ajv.errorsText(v.errors)}`);
  return value;
}

function checkCall(r, allowed) {
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls', JSON.stringify(m));
  assert.equal(m.tool_calls.length, 1);
  const call = m.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.match(call.id, /^call_/);
  const tool = allowed.find(t => t.function.name === call.function.name);
  assert.ok(tool, `called ${call.function.name}, not one of ${allowed.map(t => t.function.name)}`);
  validates(tool.function.parameters, call.function.arguments);
  assert.ok(!m.content, `content beside the call: ${JSON.stringify(m.content)}`);
}

function fathom(args) {
  const r = spawnSync(FATHOM, args, { encoding: 'utf8', env: { ...process.env, FATHOM_MODEL: '' } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

await run({
  async jsonSchema() {
    const response_format = { type: 'json_schema', json_schema: { name: 'person', schema: PERSON, strict: true } };
    for (const seed of [1, 2, 3, 4]) {
      const r = await openai.chat.completions.create({ ...base, seed, response_format });
      assert.equal(r.choices[0].finish_reason, 'stop', `seed ${seed}: ${r.choices[0].message.content}`);
      validates(PERSON, r.choices[0].message.content);
    }
  },

  async jsonSchemaStreamed() {
    const response_format = { type: 'json_schema', json_schema: { name: 'person', schema: PERSON } };
    const stream = await openai.chat.completions.create({ ...base, seed: 5, response_format, stream: true });
    let text = '', finish = null;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'stop');
    validates(PERSON, text);
  },

  // Any object: a small model may write one for a long time, so a cut-off answer (length) is only
  // checked to open an object; a finished one must parse.
  async jsonObject() {
    let finished = 0;
    for (const seed of [1, 2, 3]) {
      const r = await openai.chat.completions.create({ ...base, seed, max_tokens: 400,
                                                       response_format: { type: 'json_object' } });
      const text = r.choices[0].message.content;
      if (r.choices[0].finish_reason === 'length') {
        assert.match(text, /^\s*\{/);
        continue;
      }
      ++finished;
      const v = validates({ type: 'object' }, text);
      assert.ok(v !== null && !Array.isArray(v));
    }
    console.log(`  json_object: ${finished} of 3 finished within 400 tokens`);
  },

  async toolChoiceRequired() {
    for (const seed of [1, 2, 3]) {
      const r = await openai.chat.completions.create({ ...base, seed, tools: TOOLS, tool_choice: 'required' });
      checkCall(r, TOOLS);
    }
  },

  async toolChoiceNamed() {
    const tool_choice = { type: 'function', function: { name: 'get_time' } };
    for (const seed of [1, 2]) {
      const r = await openai.chat.completions.create({ ...base, seed, tools: TOOLS, tool_choice });
      checkCall(r, [TIME]);
    }
    const stream = await openai.chat.completions.create({ ...base, seed: 3, tools: TOOLS, stream: true,
      tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    let name = '', args = '', finish = null;
    for await (const c of stream) {
      for (const t of c.choices[0]?.delta?.tool_calls ?? []) {
        name += t.function?.name ?? '';
        args += t.function?.arguments ?? '';
      }
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(name, 'get_weather');
    validates(WEATHER.function.parameters, args);
  },

  async unsupportedIs400() {
    const bad = { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object',
      properties: { a: { type: 'string', format: 'email' } } } } };
    await assert.rejects(openai.chat.completions.create({ ...base, response_format: bad }),
      e => e.status === 400 && e.param === 'response_format' && /properties\.a: 'format' is not supported/.test(e.message));
    const badTool = { type: 'function', function: { name: 'f', parameters: { oneOf: [] } } };
    await assert.rejects(openai.chat.completions.create({ ...base, tools: [badTool], tool_choice: 'required' }),
      e => e.status === 400 && e.param === 'tools' && /tools\[0\]\.function\.parameters: 'oneOf'/.test(e.message));
    await assert.rejects(openai.chat.completions.create({ ...base, tools: TOOLS,
      tool_choice: { type: 'function', function: { name: 'nope' } } }),
      e => e.status === 400 && e.param === 'tool_choice');
    await assert.rejects(openai.chat.completions.create({ ...base, ignore_eos: true,
      response_format: { type: 'json_object' } }), e => e.status === 400 && /ignore_eos/.test(e.message));
  },

  async besideMtp() {
    const mtp = await startServer(MODEL, ['--parallel', '2', '--ctx', '1024', '--threads', '1', '--mtp']);
    try {
      const c = client(mtp);
      const response_format = { type: 'json_schema', json_schema: { name: 'person', schema: PERSON } };
      const [constrained, free] = await Promise.all([
        c.chat.completions.create({ ...base, seed: 6, response_format }),
        c.chat.completions.create({ ...base, seed: 6, max_tokens: 64 }),
      ]);
      assert.equal(constrained.choices[0].finish_reason, 'stop');
      validates(PERSON, constrained.choices[0].message.content);
      assert.ok(free.choices[0].message.content.length > 0);
    } finally {
      await mtp.stop();
    }
  },

  async cli() {
    const file = path.join(TMP, 'person.schema.json');
    fs.writeFileSync(file, JSON.stringify(PERSON));
    for (const seed of ['1', '2']) {
      const r = fathom(['run', MODEL, '--chat', '-p', 'A person as JSON', '-t', '1', '--seed', seed,
                        '-n', '900', '--json-schema', file]);
      assert.equal(r.status, 0, r.err);
      validates(PERSON, r.out);
    }
    const any = fathom(['run', MODEL, '-p', 'Data:', '-t', '1', '--seed', '1', '-n', '300', '--json']);
    assert.equal(any.status, 0, any.err);
    if (/stop: eos/.test(any.err)) validates({ type: 'object' }, any.out);
    else assert.match(any.out, /^\s*\{/);
    const badFile = path.join(TMP, 'bad.schema.json');
    fs.writeFileSync(badFile, JSON.stringify({ type: 'object', properties: { a: { not: {} } } }));
    const bad = fathom(['run', MODEL, '-p', 'x', '--json-schema', badFile]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.err, /bad\.schema\.json: json schema: properties\.a: 'not' is not supported/);
  },
}, () => server.stop());
