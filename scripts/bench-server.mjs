#!/usr/bin/env node
// Aggregate decode throughput of a running `fathom serve` at 1 and N concurrent streams.
//   node scripts/bench-server.mjs URL [--tokens 128] [--streams 8] [--eos ID,ID]
// Each stream asks for exactly --tokens tokens (EOS biased away) after a short prompt. The rate is
// the server's own decode rate (/metrics: sequences advanced / time in batched decode steps, so
// prefill is left out); the client-side wall rate (all tokens over the time from the first request
// sent to the last stream's end, prefill included) is printed beside it.
const args = process.argv.slice(2);
const url = args[0];
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
if (!url) { console.error('usage: bench-server.mjs URL [--tokens N] [--streams N] [--eos ID,ID]'); process.exit(2); }
const TOKENS = opt('--tokens', 128), STREAMS = opt('--streams', 8);
const EOS = (args.includes('--eos') ? args[args.indexOf('--eos') + 1] : '1').split(',');  // ids to bias away

async function stream(i) {
  const start = performance.now();
  const res = await fetch(url + '/v1/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'bench', prompt: `Stream ${i}: once upon a time`, max_tokens: TOKENS,
                           temperature: 0, stream: true, logit_bias: Object.fromEntries(EOS.map(id => [id, -100])) }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let chunks = 0, buf = '';
  const dec = new TextDecoder();
  for await (const part of res.body) {
    buf += dec.decode(part, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, k); buf = buf.slice(k + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.choices?.[0]?.text) ++chunks;
    }
  }
  return { start, end: performance.now(), chunks };
}

async function metrics() {
  const text = await (await fetch(url + '/metrics')).text();
  const get = name => Number(text.match(new RegExp('^' + name + ' (\\S+)$', 'm'))[1]);
  return { tokens: get('fathom_decode_batch_tokens_total'), seconds: get('fathom_decode_seconds_total'),
           steps: get('fathom_decode_steps_total') };
}

async function rate(n) {
  const m0 = await metrics();
  const rs = await Promise.all(Array.from({ length: n }, (_, i) => stream(i)));
  const m1 = await metrics();
  const t0 = Math.min(...rs.map(r => r.start)), t1 = Math.max(...rs.map(r => r.end));
  return { server: (m1.tokens - m0.tokens) / (m1.seconds - m0.seconds),
           wall: n * TOKENS / ((t1 - t0) / 1000),
           batch: (m1.tokens - m0.tokens) / (m1.steps - m0.steps) };
}

await rate(1);  // warm-up
const one = await rate(1);
const many = await rate(STREAMS);
const line = (label, r) => console.log(`${label} ${r.server.toFixed(2)} tok/s decode ` +
  `(wall ${r.wall.toFixed(2)} tok/s, mean batch ${r.batch.toFixed(2)})`);
line('decode throughput, 1 stream: ', one);
line(`decode throughput, ${STREAMS} streams:`, many);
console.log(`ratio: ${(many.server / one.server).toFixed(2)}x (wall: ${(many.wall / one.wall).toFixed(2)}x)`);
