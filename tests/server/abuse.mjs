// The server under abuse stays responsive to a good request: a flood of clients that trickle their
// headers or bodies (each closed at its deadline), a burst of 256 connections at once (every one
// answered: no TCP resets, the listen queue is deep), more connections than --max-connections (they
// wait, then are served), and clients that leave before their answer, streaming or not (each
// generation cancelled and its slot freed). No assertion on speed: each wait is bounded only so a
// hang fails the test instead of stalling it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { TMP, startServer, client, raw, metric, run, synth } from './harness.mjs';

const dir = synth('tiny-v3', path.join(TMP, 'tiny-v3-f32'));
// Short deadlines so that the slow clients are cut off within the test's time.
const server = await startServer(dir, ['--parallel', '2', '--queue', '32', '--ctx', '4096', '--threads', '1',
                                       '--header-timeout', '2', '--body-timeout', '2']);
const openai = client(server);
const msgs = [{ role: 'user', content: 'Hello' }];
const neverEos = { 1: -100 };
const sleep = ms => new Promise(r => setTimeout(r, ms));

// Fails with `what` when `promise` has not settled within `ms` (a hang, not a slow answer).
function within(ms, promise, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s: ${what}`)), ms);
  })]).finally(() => clearTimeout(timer));
}

async function goodRequest(srv = server) {
  const r = await within(60000, client(srv).chat.completions.create({ model: 'm', messages: msgs, max_tokens: 2 }),
                         'a good request');
  assert.equal(r.choices.length, 1);
  const h = await within(60000, raw(srv, 'GET', '/health'), 'GET /health');
  assert.equal(h.status, 200);
}

// A raw connection; `closed` resolves with what the server sent and whether the socket failed.
function connect(port) {
  const sock = net.connect(port, '127.0.0.1');
  let data = '';
  sock.on('data', d => { data += d.toString(); });
  const closed = new Promise(resolve => {
    let error = null;
    sock.on('error', e => { error = e; });
    sock.on('close', () => resolve({ data, error }));
  });
  return { sock, closed };
}

// Writes `pieces` one per second until the server closes the connection.
function trickle(sock, pieces) {
  let i = 0;
  const timer = setInterval(() => {
    if (sock.destroyed || i >= pieces.length) return clearInterval(timer);
    sock.write(pieces[i++]);
  }, 1000);
  sock.on('close', () => clearInterval(timer));
}

async function waitMetric(name, pred, ms, srv = server) {
  const deadline = Date.now() + ms;
  let v;
  while (!pred(v = await metric(srv, name))) {
    if (Date.now() > deadline) throw new Error(`${name} = ${v} after ${ms / 1000} s`);
    await sleep(50);
  }
  return v;
}

await run({
  async slowHeaderFlood() {
    // 100 clients each send a request line, then a header line a second, never the blank line: more
    // than the threads the server used to have for every connection (slots + queue + 16).
    const timedOut0 = await metric(server, 'fathom_http_connections_timed_out_total');
    const slow = Array.from({ length: 100 }, () => connect(server.port));
    for (const { sock } of slow) {
      sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
      trickle(sock, Array.from({ length: 60 }, (_, i) => `X-Slow-${i}: ${i}\r\n`));
    }
    await sleep(500);
    await goodRequest();
    // Each is cut off at its header deadline (2 s), though it never paused for a whole read timeout.
    const ends = await within(30000, Promise.all(slow.map(s => s.closed)), 'the slow clients closed');
    assert.ok(ends.every(e => !e.data.startsWith('HTTP/1.1 200')), 'a slow request was served');
    assert.ok(await metric(server, 'fathom_http_connections_timed_out_total') >= timedOut0 + 100);
    await goodRequest();
  },

  async slowBodyFlood() {
    const timedOut0 = await metric(server, 'fathom_http_connections_timed_out_total');
    const body = JSON.stringify({ model: 'm', messages: msgs, max_tokens: 2 });
    const slow = Array.from({ length: 40 }, () => connect(server.port));
    for (const { sock } of slow) {
      sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
                 `Content-Length: ${body.length}\r\n\r\n`);
      trickle(sock, body.split(''));
    }
    await sleep(500);
    await goodRequest();
    const ends = await within(30000, Promise.all(slow.map(s => s.closed)), 'the slow bodies closed');
    assert.ok(ends.every(e => !e.data.startsWith('HTTP/1.1 200')), 'a slow body was served');
    assert.ok(await metric(server, 'fathom_http_connections_timed_out_total') >= timedOut0 + 40);
  },

  async listenBacklogIsDeep() {
    // httplib listens with a backlog of 5; `ss` shows a listening socket's backlog as Send-Q.
    let out;
    try {
      out = execFileSync('ss', ['-Hltn', `sport = :${server.port}`], { encoding: 'utf8' });
    } catch {
      console.log('  (ss not available: backlog not read)');
      return;
    }
    const backlog = Number(out.trim().split(/\s+/)[2]);
    assert.ok(backlog >= 128, `listen backlog ${backlog}: ${out}`);
  },

  async burstOf256Connections() {
    const conns = Array.from({ length: 256 }, () => connect(server.port));
    for (const { sock } of conns) sock.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const ends = await within(60000, Promise.all(conns.map(c => c.closed)), 'the burst answered');
    const failed = ends.filter(e => e.error || !e.data.startsWith('HTTP/1.1 200'));
    assert.equal(failed.length, 0, `${failed.length} of 256 failed, e.g. ${failed[0]?.error?.code} ${failed[0]?.data}`);
    await goodRequest();
  },

  async connectionsBeyondTheCapWait() {
    // 4 connections allowed. 4 clients are served once each (so they hold their places), then sit on
    // a half-sent request; a fifth is not served while they do, and is once one of them leaves.
    const capped = await startServer(dir, ['--parallel', '1', '--ctx', '256', '--threads', '1',
                                           '--max-connections', '4', '--header-timeout', '60']);
    try {
      const holders = Array.from({ length: 4 }, () => connect(capped.port));
      await within(30000, Promise.all(holders.map(({ sock }) => new Promise(resolve => {
        sock.once('data', () => { sock.write('GET /health HTTP/1.1\r\nHost: x\r\n'); resolve(); });
        sock.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      }))), 'the first requests of the holders');
      const fifth = connect(capped.port);
      fifth.sock.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      let answered = false;
      fifth.closed.then(() => { answered = true; });
      await sleep(1000);
      assert.equal(answered, false, 'a connection beyond --max-connections was served');
      holders[0].sock.destroy();
      const end = await within(30000, fifth.closed, 'the waiting connection');
      assert.ok(end.data.startsWith('HTTP/1.1 200'), end.data);
      for (const h of holders) h.sock.destroy();
    } finally {
      await capped.stop();
    }
  },

  async nonStreamingDisconnectFreesTheSlot() {
    // A non-streaming request that would run to the full 4096-token context; its client leaves.
    const cancelled0 = await metric(server, 'fathom_generations_cancelled_total');
    const ctrl = new AbortController();
    const gone = fetch(server.url + '/v1/chat/completions', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, signal: ctrl.signal,
      body: JSON.stringify({ model: 'm', messages: msgs, logit_bias: neverEos }),
    }).catch(() => null);
    await waitMetric('fathom_active_sequences', v => v >= 1, 30000);
    ctrl.abort();
    await gone;
    await waitMetric('fathom_generations_cancelled_total', v => v === cancelled0 + 1, 30000);
    await waitMetric('fathom_active_sequences', v => v === 0, 30000);
    await goodRequest();
  },

  async randomMidStreamDisconnects() {
    // 24 streaming clients at once; every other one leaves after a random number of chunks. The
    // others finish; every slot and cache row comes back.
    const results = await within(120000, Promise.all(Array.from({ length: 24 }, async (_, c) => {
      const ctrl = new AbortController();
      const leaves = c % 2 === 1;
      const s = await openai.chat.completions.create(
        { model: 'm', messages: msgs, stream: true, max_tokens: leaves ? undefined : 12,
          logit_bias: leaves ? neverEos : undefined }, { signal: ctrl.signal });
      const after = 1 + Math.floor(Math.random() * 8);
      let n = 0, finish = null;
      try {
        for await (const ch of s) {
          finish = ch.choices[0]?.finish_reason ?? finish;
          if (leaves && ++n === after) ctrl.abort();
        }
      } catch (e) {
        if (!leaves) throw e;
      }
      return leaves ? (n >= after ? 'left' : `ended after ${n} chunks`) : finish;
    })), 'the streaming clients');
    assert.equal(results.filter(r => r === 'left').length, 12);
    assert.ok(results.filter(r => r !== 'left').every(f => ['stop', 'length'].includes(f)), results.join(','));
    await waitMetric('fathom_active_sequences', v => v === 0, 30000);
    await waitMetric('fathom_queue_depth', v => v === 0, 30000);
    await goodRequest();
  },
}, () => server.stop());
