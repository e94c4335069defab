// Bounded load: 32 concurrent clients, several requests each (streaming and not, chat and
// completions) on a tiny model through the official client; every request must succeed, and the
// server's memory must stay bounded (RSS after the load within a margin of RSS after warm-up).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TMP, startServer, client, metric, run, synth } from './harness.mjs';

const dir = synth('tiny-v3', path.join(TMP, 'tiny-v3-f32'));
const server = await startServer(dir, ['--parallel', '8', '--queue', '64', '--ctx', '512', '--threads', '2']);
const openai = client(server);
const CLIENTS = 32, REQUESTS = 4;

function rssKB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return Number(m[1]);
}

async function one(c, i) {
  const kind = (c + i) % 3;
  const max_tokens = 8 + ((c * 7 + i) % 17);
  if (kind === 0) {
    const r = await openai.chat.completions.create({ model: 'm', max_tokens, seed: c * 100 + i,
      messages: [{ role: 'user', content: `Client ${c} asks question ${i}: what is the sea?` }] });
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.ok(r.usage.completion_tokens <= max_tokens);
    return r.usage.completion_tokens;
  }
  if (kind === 1) {
    const s = await openai.chat.completions.create({ model: 'm', max_tokens, stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: `Client ${c} streams ${i}` }] });
    let usage = null, finish = null;
    for await (const ch of s) {
      if (ch.usage) usage = ch.usage;
      finish = ch.choices[0]?.finish_reason ?? finish;
    }
    assert.ok(['stop', 'length'].includes(finish));
    return usage.completion_tokens;
  }
  const r = await openai.completions.create({ model: 'm', prompt: `The sea ${c} ${i}`, max_tokens });
  return r.usage.completion_tokens;
}

await run({
  async concurrentClients() {
    await one(0, 0);
    const rss0 = rssKB(server.proc.pid);
    const t0 = Date.now();
    let errors = 0, tokens = 0;
    await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = 0; i < REQUESTS; ++i) {
        try {
          const n = await one(c, i);
          tokens += n;
        } catch (e) {
          ++errors;
          console.log(`client ${c} request ${i}: ${e.message}`);
        }
      }
    }));
    const secs = (Date.now() - t0) / 1000;
    const rss1 = rssKB(server.proc.pid);
    const steps = await metric(server, 'fathom_decode_steps_total');
    const batched = await metric(server, 'fathom_decode_batch_tokens_total');
    console.log(`  ${CLIENTS * REQUESTS} requests, ${tokens} tokens in ${secs.toFixed(1)} s; ` +
                `mean decode batch ${(batched / steps).toFixed(2)}; RSS ${rss0} -> ${rss1} KB`);
    assert.equal(errors, 0);
    assert.ok(batched / steps > 2, 'decode steps should batch several sequences');
    assert.ok(rss1 < rss0 + 64 * 1024, 'RSS grew by more than 64 MB under load');
    assert.equal(await metric(server, 'fathom_active_sequences'), 0);
    assert.equal(await metric(server, 'fathom_queue_depth'), 0);
  },
}, () => server.stop());
