// Shared by the server's end-to-end tests: start `fathom serve` on a free loopback port (the
// server picks it with --port 0 and prints it), wait until it answers, and always kill it at the end.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'npm', 'package.json'));
export const OpenAI = require('openai');

export const [FATHOM, TMP] = [process.argv[2], process.argv[3]];
if (!FATHOM || !TMP) {
  console.error('usage: node TEST.mjs FATHOM_BINARY TMP_DIR');
  process.exit(2);
}
fs.mkdirSync(TMP, { recursive: true });

const servers = new Set();
function killAll() { for (const s of servers) { try { s.kill('SIGKILL'); } catch {} } }
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(1); });

// Synthesized into a private directory and renamed into place, so an interrupted earlier run never
// leaves a half-written model that a later run would take as complete.
export function synth(preset, dir, dtype = 'f32') {
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    execFileSync(FATHOM, ['synth', '--preset', preset, '--dtype', dtype, '--out', tmp], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  }
  return dir;
}

// Starts the server; resolves to { url, port, proc, log(), stop() }.
export async function startServer(modelDir, args = []) {
  const proc = spawn(FATHOM, ['serve', modelDir, '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  servers.add(proc);
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 30 s:\n' + log)), 30000);
    proc.stderr.on('data', d => {
      log += d.toString();
      const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', code => { clearTimeout(timer); reject(new Error(`server exited (${code}):\n${log}`)); });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url, port, proc,
    log: () => log,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise(r => proc.on('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
      servers.delete(proc);
    },
  };
}

export function client(server, apiKey = 'none') {
  return new OpenAI({ baseURL: server.url + '/v1', apiKey, maxRetries: 0, timeout: 60000 });
}

// Raw HTTP for the cases the client will not send (malformed JSON, wrong methods).
export async function raw(server, method, route, body, headers = {}) {
  const res = await fetch(server.url + route, {
    method, headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: res.status, text, json, headers: res.headers };
}

export async function metric(server, name) {
  const { text } = await raw(server, 'GET', '/metrics');
  const m = text.match(new RegExp('^' + name + ' ([0-9.e+-]+)$', 'm'));
  return m ? Number(m[1]) : NaN;
}

// Runs the named async test functions in order; prints a line each; exits 1 on any failure.
export async function run(tests, cleanup) {
  let failed = 0;
  for (const [name, fn] of Object.entries(tests)) {
    const t0 = Date.now();
    try {
      await fn();
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      ++failed;
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
  }
  if (cleanup) await cleanup();
  killAll();
  process.exit(failed ? 1 : 0);
}
