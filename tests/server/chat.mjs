// End to end with the official openai client on the scripted model (tests/server/scripted_model.mjs):
// chat (stream and not), reasoning_content, tool calls and the tool-result turn (whose prefix comes
// from the cache), completions, logprobs, usage, models, tokenize / detokenize, health, metrics, key.
import assert from 'node:assert/strict';
import path from 'node:path';
import { FATHOM, TMP, startServer, client, raw, metric, run, synth } from './harness.mjs';
import { makeScriptedModel, PIECES } from './scripted_model.mjs';

const base = synth('tiny-v3', path.join(TMP, 'tiny-v3-f32'));
const dir = path.join(TMP, 'scripted');
const ids = makeScriptedModel(base, dir);
const KEY = 'sk-test-key';
const server = await startServer(dir, ['--parallel', '2', '--ctx', '512', '--api-key', KEY, '--threads', '1']);
const openai = client(server, KEY);
const user = [{ role: 'user', content: 'What is 2+2?' }];
const noThink = { [ids.think]: -100 };             // -> tool call
const plain = { [ids.think]: -100, [ids.callsBegin]: -100 };  // -> "Hello there!"
const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

await run({
  async models() {
    const list = await openai.models.list();
    assert.equal(list.data.length, 1);
    assert.equal(list.data[0].id, 'scripted');
  },

  async chatPlain() {
    const r = await openai.chat.completions.create({ model: 'scripted', messages: user, logit_bias: plain });
    assert.equal(r.object, 'chat.completion');
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, PIECES.hello);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.completion_tokens, 1);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 1);
  },

  async chatReasoning() {
    const r = await openai.chat.completions.create({ model: 'scripted', messages: user, temperature: 0 });
    assert.equal(r.choices[0].message.reasoning_content, PIECES.thought);
    assert.equal(r.choices[0].message.content, PIECES.answer);
    assert.equal(r.choices[0].finish_reason, 'stop');
  },

  async chatReasoningStream() {
    const chunks = await collect(await openai.chat.completions.create({
      model: 'scripted', messages: user, stream: true, stream_options: { include_usage: true } }));
    const id = chunks[0].id;
    for (const c of chunks) {
      assert.equal(c.id, id);
      assert.equal(c.object, 'chat.completion.chunk');
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    let reasoning = '', content = '';
    for (const c of chunks)
      for (const ch of c.choices) {
        reasoning += ch.delta.reasoning_content ?? '';
        content += ch.delta.content ?? '';
      }
    assert.equal(reasoning, PIECES.thought);
    assert.equal(content, PIECES.answer);
    const fin = chunks.filter(c => c.choices.length && c.choices[0].finish_reason);
    assert.equal(fin.length, 1);
    assert.equal(fin[0].choices[0].finish_reason, 'stop');
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.completion_tokens, 4);
  },

  async toolCall() {
    const r = await openai.chat.completions.create({ model: 'scripted', messages: user, tools, logit_bias: noThink });
    const m = r.choices[0].message;
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(m.content, null);
    assert.equal(m.tool_calls.length, 1);
    assert.match(m.tool_calls[0].id, /^call_/);
    assert.equal(m.tool_calls[0].type, 'function');
    assert.equal(m.tool_calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { city: 'Paris' });
  },

  async toolCallStreamAndResultTurn() {
    const chunks = await collect(await openai.chat.completions.create({
      model: 'scripted', messages: user, tools, logit_bias: noThink, stream: true }));
    const calls = [];
    for (const c of chunks)
      for (const tc of c.choices[0]?.delta.tool_calls ?? []) {
        if (tc.id) calls[tc.index] = { id: tc.id, name: tc.function.name, arguments: '' };
        calls[tc.index].arguments += tc.function.arguments ?? '';
      }
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, 'get_weather');
    assert.equal(calls[0].arguments, PIECES.args);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');

    // The tool result goes back as a `tool` message; the history up to it is already cached.
    const first = await openai.chat.completions.create({ model: 'scripted', messages: user, tools, logit_bias: noThink });
    const history = [...user,
      { role: 'assistant', content: null, tool_calls: first.choices[0].message.tool_calls },
      { role: 'tool', tool_call_id: first.choices[0].message.tool_calls[0].id, content: 'sunny, 21 C' }];
    const r = await openai.chat.completions.create({ model: 'scripted', messages: history, tools, logit_bias: plain });
    assert.equal(r.choices[0].message.content, PIECES.hello);
    // Prompt of the first turn + its 10 generated tokens were in a slot's cache.
    assert.equal(r.usage.prompt_tokens_details.cached_tokens, first.usage.prompt_tokens + 10);
  },

  async toolChoiceNoneLeavesTheBlockAsText() {
    const r = await openai.chat.completions.create({ model: 'scripted', messages: user, tools, tool_choice: 'none',
                                                     logit_bias: noThink });
    assert.equal(r.choices[0].message.tool_calls, undefined);
    assert.ok(r.choices[0].message.content.includes(PIECES.name));
  },

  async maxTokensAndStop() {
    let r = await openai.chat.completions.create({ model: 'scripted', messages: user, max_tokens: 2 });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 2);
    r = await openai.chat.completions.create({ model: 'scripted', messages: user, logit_bias: plain, stop: ['there'] });
    assert.equal(r.choices[0].message.content, 'Hello ');
    assert.equal(r.choices[0].finish_reason, 'stop');
  },

  async logprobs() {
    const r = await openai.chat.completions.create({ model: 'scripted', messages: user, logit_bias: plain,
                                                     logprobs: true, top_logprobs: 2 });
    const lp = r.choices[0].logprobs.content;
    assert.equal(lp.length, 1);
    assert.equal(lp[0].token, PIECES.hello);
    assert.ok(lp[0].logprob <= 0 && lp[0].logprob > -0.01);
    assert.equal(lp[0].top_logprobs.length, 2);
    assert.deepEqual(lp[0].bytes, [...Buffer.from(PIECES.hello)]);
  },

  async completions() {
    const r = await openai.completions.create({ model: 'scripted', prompt: 'Hello', max_tokens: 5, seed: 7 });
    assert.equal(r.object, 'text_completion');
    assert.equal(typeof r.choices[0].text, 'string');
    assert.equal(r.usage.completion_tokens <= 5, true);
    const chunks = await collect(await openai.completions.create({
      model: 'scripted', prompt: 'Hello', max_tokens: 5, seed: 7, stream: true, stream_options: { include_usage: true } }));
    const text = chunks.map(c => c.choices[0]?.text ?? '').join('');
    assert.equal(text, r.choices[0].text);  // same seed, same text
    assert.equal(chunks.at(-1).usage.completion_tokens, r.usage.completion_tokens);
    // Token-id prompt, ending on <｜Assistant｜>: the script answers.
    const t = await openai.completions.create({ model: 'scripted', prompt: [ids.bos, ids.assistant], logit_bias: plain });
    assert.equal(t.choices[0].text, PIECES.hello);
  },

  async tokenizeDetokenize() {
    const h = { Authorization: `Bearer ${KEY}` };
    const t = await raw(server, 'POST', '/tokenize', { content: PIECES.hello + ' the sea' }, h);
    assert.equal(t.status, 200);
    assert.equal(t.json.tokens[0], ids.hello);
    const d = await raw(server, 'POST', '/detokenize', { tokens: t.json.tokens }, h);
    assert.equal(d.json.content, PIECES.hello + ' the sea');
  },

  async apiKey() {
    const bad = client(server, 'wrong');
    await assert.rejects(bad.models.list(), e => e.status === 401 && e.code === 'invalid_api_key');
    const r = await raw(server, 'GET', '/health');  // health needs no key
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'ok');
  },

  async metrics() {
    const r = await raw(server, 'GET', '/metrics', undefined, { Authorization: `Bearer ${KEY}` });
    assert.equal(r.status, 200);
    for (const m of ['fathom_requests_total', 'fathom_prompt_tokens_total', 'fathom_completion_tokens_total',
                     'fathom_decode_tokens_per_second', 'fathom_queue_depth', 'fathom_kv_cache_tokens_used',
                     'fathom_kv_cache_tokens_capacity'])
      assert.ok(r.text.includes(m), m);
    assert.match(r.text, /fathom_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} \d+/);
    assert.match(r.text, /fathom_kv_cache_tokens_capacity 1024/);
  },
}, () => server.stop());
