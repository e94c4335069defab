// Bad requests get OpenAI-style JSON errors with the right status and the server keeps serving;
// a prompt longer than the context is a 400, a full context ends with "length"; a full queue is a
// 429; a client that goes away mid-stream cancels its generation and frees its slot.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TMP, startServer, client, raw, metric, run, synth } from './harness.mjs';

const dir = synth('tiny-v3', path.join(TMP, 'tiny-v3-f32'));
// One slot and one queue place: the third concurrent request is refused.
const server = await startServer(dir, ['--parallel', '1', '--queue', '1', '--ctx', '4096', '--threads', '1']);
const openai = client(server);
const msgs = [{ role: 'user', content: 'Hello' }];
const neverEos = { 1: -100 };

function isError(r, status, param) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json && r.json.error, r.text);
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in r.json.error, `${k} in ${r.text}`);
  assert.equal(typeof r.json.error.message, 'string');
  if (param !== undefined) assert.equal(r.json.error.param, param, r.text);
}

async function stillServes() {
  const r = await openai.chat.completions.create({ model: 'm', messages: msgs, max_tokens: 2 });
  assert.equal(r.choices.length, 1);
}

await run({
  async malformedRequests() {
    const C = '/v1/chat/completions';
    const cases = [
      ['POST', C, '{"model": "m", "messages": [', 400, null],
      ['POST', C, 'null', 400, null],
      ['POST', C, '', 400, null],
      ['POST', C, { messages: msgs }, 400, 'model'],
      ['POST', C, { model: 'm', messages: 'hi' }, 400, 'messages'],
      ['POST', C, { model: 'm', messages: [{ role: 'user' }] }, 400, 'messages[0].content'],
      ['POST', C, { model: 'm', messages: msgs, temperature: -1 }, 400, 'temperature'],
      ['POST', C, { model: 'm', messages: msgs, max_tokens: 'ten' }, 400, 'max_tokens'],
      ['POST', C, { model: 'm', messages: msgs, n: 3 }, 400, 'n'],
      ['POST', C, { model: 'm', messages: msgs, logit_bias: { 99999: 5 } }, 400, null],
      ['POST', C, { model: 'm', messages: msgs, response_format: { type: 'json_schema' } }, 400, 'response_format'],
      ['POST', C, { model: 'm', messages: msgs, bogus: true }, 400, 'bogus'],
      ['POST', '/v1/completions', { model: 'm' }, 400, 'prompt'],
      ['POST', '/v1/completions', { model: 'm', prompt: [1, -5] }, 400, 'prompt'],
      ['POST', '/v1/completions', { model: 'm', prompt: [299999] }, 400, 'prompt'],
      ['POST', '/tokenize', { content: 5 }, 400, 'content'],
      ['POST', '/detokenize', { tokens: ['a'] }, 400, 'tokens'],
      ['GET', '/v1/nothing', undefined, 404, null],
      ['GET', C, undefined, 404, null],
    ];
    for (const [method, route, body, status, param] of cases) {
      const r = await raw(server, method, route, body);
      try {
        isError(r, status, param === null ? undefined : param);
      } catch (e) {
        throw new Error(`${method} ${route} ${JSON.stringify(body)}: ${e.message}`);
      }
    }
    await stillServes();
    // The official client surfaces them as APIError with the status and the body's fields.
    await assert.rejects(openai.chat.completions.create({ model: 'm', messages: msgs, top_p: 7 }),
                         e => e.status === 400 && e.param === 'top_p');
  },

  async hostileBodiesAndTemplate() {
    // Bodies that killed the server (nesting 100k deep) or answered with raw library text.
    const C = '/v1/chat/completions';
    const base = '"model": "m", "messages": [{"role": "user", "content": "hi"}]';
    const deepArray = '['.repeat(100000) + ']'.repeat(100000);
    const deepObject = '{"a":'.repeat(50000) + '1' + '}'.repeat(50000);
    const cases = [
      [`{${base}, "chat_template_kwargs": {"x": ${deepArray}}}`, 'chat_template_kwargs.x[0]'],
      [`{${base}, "tools": [{"type": "function", "function": {"name": "f", "parameters": ${deepObject}}}]}`,
       'tools[0].function.parameters.a'],
      [`{${base}, "max_tokens": 1e400}`, 'max_tokens'],
      [`{${base}, "max_tokens": 5, "max_tokens": 6}`, 'max_tokens'],
    ];
    for (const [body, param] of cases) {
      const r = await raw(server, 'POST', C, body);
      isError(r, 400);
      assert.ok(r.json.error.param.startsWith(param), r.text.slice(0, 400));
      assert.ok(!r.text.includes('json.exception'), r.text.slice(0, 400));
    }
    await stillServes();

    // A model directory whose chat template recurses without end: each chat request is a 400 naming
    // the limit, and the server keeps serving.
    const evil = path.join(TMP, 'evil-template');
    fs.rmSync(evil, { recursive: true, force: true });
    fs.cpSync(dir, evil, { recursive: true });
    fs.writeFileSync(path.join(evil, 'chat_template.jinja'), '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}');
    const s = await startServer(evil, ['--threads', '1']);
    try {
      for (let k = 0; k < 2; ++k) {
        const r = await raw(s, 'POST', C, { model: 'm', messages: msgs });
        isError(r, 400, 'messages');
        assert.match(r.json.error.message, /deeper than 500 levels/);
      }
      assert.ok(s.alive());
    } finally {
      await s.stop();
    }
  },

  async promptLongerThanContext() {
    const long = 'the sea is wide and deep '.repeat(2000);
    const r = await raw(server, 'POST', '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: long }] });
    isError(r, 400);
    assert.equal(r.json.error.code, 'context_length_exceeded');
    await stillServes();
  },

  async fullContextEndsWithLength() {
    const small = await startServer(dir, ['--parallel', '1', '--ctx', '48', '--threads', '1']);
    try {
      const r = await client(small).chat.completions.create({ model: 'm', messages: msgs, logit_bias: neverEos });
      assert.equal(r.choices[0].finish_reason, 'length');
      assert.equal(r.usage.prompt_tokens + r.usage.completion_tokens, 49);  // the last token needs no row
      const s = await client(small).chat.completions.create({ model: 'm', messages: msgs, stream: true,
                                                            logit_bias: neverEos });
      let finish = null;
      for await (const c of s) finish = c.choices[0]?.finish_reason ?? finish;
      assert.equal(finish, 'length');
    } finally {
      await small.stop();
    }
  },

  async queueFullIs429AndDisconnectCancels() {
    // A: streams without end (no EOS, 4096-token context); B waits in the queue; C is refused.
    const ctrl = new AbortController();
    const a = await openai.chat.completions.create({ model: 'm', messages: msgs, stream: true, logit_bias: neverEos },
                                                   { signal: ctrl.signal });
    const it = a[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    const b = openai.chat.completions.create({ model: 'm', messages: msgs, max_tokens: 3 });
    // C must come after B is queued (a fixed pause can lose this race on a loaded machine).
    for (const until = Date.now() + 30000; await metric(server, 'fathom_queue_depth') !== 1;) {
      assert.ok(Date.now() < until, 'the second request was never queued');
      await new Promise(r => setTimeout(r, 20));
    }
    const c = await raw(server, 'POST', '/v1/chat/completions', { model: 'm', messages: msgs, max_tokens: 3 });
    isError(c, 429);
    assert.equal(c.json.error.code, 'queue_full');

    // A's client goes away: its generation is cancelled, so B gets the slot and completes.
    const cancelledBefore = await metric(server, 'fathom_generations_cancelled_total');
    ctrl.abort();
    const rb = await b;
    assert.equal(rb.usage.completion_tokens <= 3, true);
    const deadline = Date.now() + 5000;
    while (await metric(server, 'fathom_generations_cancelled_total') === cancelledBefore && Date.now() < deadline)
      await new Promise(r => setTimeout(r, 50));
    assert.equal(await metric(server, 'fathom_generations_cancelled_total'), cancelledBefore + 1);
    assert.equal(await metric(server, 'fathom_active_sequences'), 0);
    assert.equal(await metric(server, 'fathom_kv_cache_tokens_used'), 0);
    await stillServes();
  },
}, () => server.stop());
