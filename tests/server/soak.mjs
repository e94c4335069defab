// Soak (bounded, loopback only): CLIENTS concurrent streaming clients for SECONDS against `fathom
// serve`, a random third of their requests abandoned mid-stream, while a prober sends a good
// (non-streaming) request every second. Reports failed requests and the server's RSS over time, and
// fails on any failed request that was not abandoned on purpose, or when the slots, the queue or the
// connections do not all come back at the end.
//
//   node tests/server/soak.mjs FATHOM TMP [--model DIR] [--seconds 600] [--clients 64] [--parallel 4]
//                                         [--threads 2]
//
// The server runs with --ctx 512 and a queue of CLIENTS + 8. Without --model it synthesizes the
// tiny-v3 model into TMP. docs/SERVER.md has the figures of a
// 10-minute run on models/default; `make test` runs a 15-second one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TMP, startServer, client, raw, metric, run, synth } from './harness.mjs';

const args = Object.fromEntries(process.argv.slice(4).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const SECONDS = Number(args.seconds ?? 600), CLIENTS = Number(args.clients ?? 64);
const dir = args.model ?? synth('tiny-v3', path.join(TMP, 'tiny-v3-f32'));
const server = await startServer(dir, ['--parallel', args.parallel ?? '4', '--queue', String(CLIENTS + 8),
                                       '--ctx', '512', '--threads', args.threads ?? '2']);
const openai = client(server);
const sleep = ms => new Promise(r => setTimeout(r, ms));

function rssMB() {
  const m = fs.readFileSync(`/proc/${server.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return Number(m[1]) / 1024;
}

const counts = { completed: 0, abandoned: 0, failed: 0, probes: 0, probesFailed: 0, tokens: 0 };
const failures = [];

// One streaming request; abandoned after a random number of chunks one time in three.
async function streamOnce(c, i) {
  const leaveAfter = Math.random() < 1 / 3 ? 1 + Math.floor(Math.random() * 12) : -1;
  const ctrl = new AbortController();
  let chunks = 0;
  try {
    const s = await openai.chat.completions.create({
      model: 'm', stream: true, max_tokens: 8 + Math.floor(Math.random() * 40), temperature: 1, seed: c * 100003 + i,
      messages: [{ role: 'user', content: `Soak client ${c}, request ${i}: tell me about the sea.` }],
    }, { signal: ctrl.signal });
    let finish = null;
    for await (const ch of s) {
      ++chunks;
      finish = ch.choices[0]?.finish_reason ?? finish;
      if (chunks === leaveAfter) { ctrl.abort(); break; }
    }
    if (chunks === leaveAfter) { ++counts.abandoned; return; }
    assert.ok(['stop', 'length'].includes(finish), `finish_reason ${finish}`);
    ++counts.completed;
    counts.tokens += chunks;
  } catch (e) {
    if (chunks === leaveAfter) { ++counts.abandoned; return; }
    ++counts.failed;
    if (failures.length < 10) failures.push(`client ${c} request ${i}: ${e.message}`);
  }
}

await run({
  async soak() {
    await openai.completions.create({ model: 'm', prompt: 'warm up', max_tokens: 4 });
    const samples = [[0, rssMB()]];
    const t0 = Date.now(), end = t0 + SECONDS * 1000;
    let stop = false;
    const sampler = (async () => {
      while (!stop) {
        await sleep(Math.min(10000, SECONDS * 100));
        samples.push([(Date.now() - t0) / 1000, rssMB()]);
      }
    })();
    const prober = (async () => {
      while (!stop) {
        ++counts.probes;
        try {
          const r = await openai.chat.completions.create({ model: 'm', max_tokens: 4,
            messages: [{ role: 'user', content: 'Are you there?' }] });
          assert.equal(r.choices.length, 1);
        } catch (e) {
          ++counts.probesFailed;
          if (failures.length < 10) failures.push(`probe: ${e.message}`);
        }
        await sleep(1000);
      }
    })();
    await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = 0; Date.now() < end; ++i) await streamOnce(c, i);
    }));
    stop = true;
    await Promise.all([sampler, prober]);
    samples.push([(Date.now() - t0) / 1000, rssMB()]);

    const secs = (Date.now() - t0) / 1000;
    console.log(`  ${secs.toFixed(0)} s, ${CLIENTS} streaming clients: ${counts.completed} completed, ` +
                `${counts.abandoned} abandoned mid-stream, ${counts.failed} failed; ` +
                `${counts.probes} good probe requests, ${counts.probesFailed} failed`);
    console.log('  RSS MB over time: ' + samples.map(([t, mb]) => `${t.toFixed(0)}s ${mb.toFixed(1)}`).join(', '));
    for (const f of failures) console.log('  ' + f);
    assert.equal(counts.failed, 0, 'failed streaming requests');
    assert.equal(counts.probesFailed, 0, 'failed good requests');
    assert.ok(counts.completed > 0 && counts.abandoned > 0);
    // Everything comes back once the clients are gone.
    // (The clients' idle kept-alive connections close at the server's idle timeout; what may stay
    // open is the one this check uses.)
    for (const [name, most] of [['fathom_active_sequences', 0], ['fathom_queue_depth', 0], ['fathom_http_connections', 2]]) {
      const until = Date.now() + 30000;
      while (await metric(server, name) > most) {
        assert.ok(Date.now() < until, `${name} = ${await metric(server, name)}, want at most ${most}`);
        await sleep(100);
      }
    }
    // Memory is flat: once warm (after the first tenth of the run), RSS grows by less than 64 MB.
    const warm = samples.find(([t]) => t >= SECONDS / 10) ?? samples[0];
    const last = samples[samples.length - 1];
    console.log(`  RSS warm ${warm[1].toFixed(1)} MB at ${warm[0].toFixed(0)} s, end ${last[1].toFixed(1)} MB`);
    assert.ok(last[1] < warm[1] + 64, 'RSS grew by more than 64 MB');
    const h = await raw(server, 'GET', '/health');
    assert.equal(h.status, 200);
  },
}, () => server.stop());
