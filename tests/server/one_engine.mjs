// One generation engine behind run, chat and serve: the same prompt, settings and seed give the same
// text through `fathom run`, `fathom chat` (first turn) and `fathom serve` (completions and chat),
// greedy and seeded sampling; and greedy with --mtp (K = 1, 2, 3) gives byte-identical text to
// greedy without it, on a synthesized tiny-v3 (random weights: drafts mostly rejected) and on
// models/default when the checkout has it (drafts mostly accepted). A model without MTP weights:
// run --mtp is an error naming num_nextn_predict_layers, serve --mtp starts without MTP and says so.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FATHOM, TMP, startServer, client, metric, run, synth } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const models = [synth('tiny-v3', path.join(TMP, 'tiny-v3-f32'))];
const defaultModel = path.join(here, '..', '..', 'models', 'default');
if (fs.existsSync(path.join(defaultModel, 'config.json'))) models.push(defaultModel);
const noMtp = synth('tiny-v2', path.join(TMP, 'tiny-v2-f32'));

const PROMPT = 'The LORD is my shepherd;';
const MESSAGE = 'Tell me about the sea.';
const N = 16;
// The CLI's sampling defaults, spelled out so the server (OpenAI defaults) samples the same way.
const SAMPLING = { temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, seed: 7 };
const CLI_SAMPLING = ['--temp', '0.8', '--top-k', '40', '--top-p', '0.95', '--min-p', '0.05', '--seed', '7'];

function fathom(args, input = '') {
  const r = spawnSync(FATHOM, args, { input, encoding: 'utf8', env: { ...process.env, FATHOM_MODEL: '' } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}
function ok(args, input = '') {
  const r = fathom(args, input);
  assert.equal(r.status, 0, `fathom ${args.join(' ')}:\n${r.err}`);
  return r;
}
const mtpArgs = k => (k === 0 ? [] : ['--mtp', '--mtp-draft', String(k)]);
const runText = (dir, extra) => ok(['run', dir, '-p', PROMPT, '-n', String(N), '-t', '1', ...extra]).out;
const runChatText = (dir, extra) =>
  ok(['run', dir, '--chat', '-p', MESSAGE, '-n', String(N), '-t', '1', ...extra]).out;
// chat on a pipe prints each answer and ends it with a newline when it has none.
const chatText = (dir, extra) => {
  const out = ok(['chat', dir, '-n', String(N), '-t', '1', ...extra], MESSAGE + '\n').out;
  return out.endsWith('\n') ? out.slice(0, -1) : out;
};
// The server's chat answer is the raw text split into sections (reasoning, content), each without
// its leading whitespace (generation/reasoning.h).
const chatContent = m => (m.reasoning_content ?? '') + (m.content ?? '');
const asServed = text => text.trimStart();

const tests = {};
for (const dir of models) {
  const name = path.basename(dir);
  const greedy = runText(dir, ['--temp', '0']);
  const greedyChat = runChatText(dir, ['--temp', '0']);
  const sampled = runText(dir, CLI_SAMPLING);
  const sampledChat = runChatText(dir, CLI_SAMPLING);

  tests[`${name}: run, chat and run --chat agree`] = async () => {
    assert.ok(greedy.length > 0);
    assert.equal(chatText(dir, ['--temp', '0']), greedyChat.replace(/\n$/, ''));
    assert.equal(chatText(dir, CLI_SAMPLING), sampledChat.replace(/\n$/, ''));
    assert.equal(runText(dir, CLI_SAMPLING), sampled, 'a seed repeats');
  };

  tests[`${name}: greedy with --mtp is byte-identical (run, chat)`] = async () => {
    for (const k of [1, 2, 3]) {
      const r = ok(['run', dir, '-p', PROMPT, '-n', String(N), '-t', '1', '--temp', '0', ...mtpArgs(k)]);
      assert.equal(r.out, greedy, `run --mtp-draft ${k}`);
      assert.match(r.err, /mtp: accepted \d+\/\d+ \(\d+(\.\d+)?%\)/);
      assert.equal(runChatText(dir, ['--temp', '0', ...mtpArgs(k)]), greedyChat, `run --chat --mtp-draft ${k}`);
      assert.equal(chatText(dir, ['--temp', '0', ...mtpArgs(k)]), greedyChat.replace(/\n$/, ''), `chat --mtp-draft ${k}`);
    }
  };

  for (const k of [0, 1, 2, 3]) {
    tests[`${name}: serve ${k ? `--mtp-draft ${k}` : 'without --mtp'} gives run's and chat's text`] = async () => {
      const server = await startServer(dir, ['--parallel', '2', '--threads', '1', ...mtpArgs(k)]);
      try {
        const openai = client(server);
        const greedyReq = { model: name, max_tokens: N, temperature: 0 };
        // Two at once: the verifications of both share the batched steps.
        const [a, b] = await Promise.all([
          openai.completions.create({ ...greedyReq, prompt: PROMPT }),
          openai.chat.completions.create({ ...greedyReq, messages: [{ role: 'user', content: MESSAGE }] }),
        ]);
        assert.equal(a.choices[0].text, greedy);
        assert.equal(chatContent(b.choices[0].message), asServed(greedyChat));
        if (k === 0) {  // seeded sampling: the same stream as run's (MTP samples the same distribution, not the same stream)
          const s = await openai.completions.create({ model: name, max_tokens: N, prompt: PROMPT, ...SAMPLING });
          assert.equal(s.choices[0].text, sampled);
          const c = await openai.chat.completions.create({ model: name, max_tokens: N, ...SAMPLING,
            messages: [{ role: 'user', content: MESSAGE }] });
          assert.equal(chatContent(c.choices[0].message), asServed(sampledChat));
        }
        const drafted = await metric(server, 'fathom_mtp_drafted_tokens_total');
        const accepted = await metric(server, 'fathom_mtp_accepted_tokens_total');
        if (k === 0) assert.equal(drafted, 0);
        else assert.ok(drafted > 0 && accepted <= drafted, `drafted ${drafted}, accepted ${accepted}`);
      } finally {
        await server.stop();
      }
    };
  }
}

tests['a model without MTP weights'] = async () => {
  const r = fathom(['run', noMtp, '-p', PROMPT, '-n', '4', '--mtp']);
  assert.notEqual(r.status, 0);
  assert.match(r.err, /num_nextn_predict_layers/);
  const c = fathom(['chat', noMtp, '-n', '4', '--mtp'], MESSAGE + '\n');
  assert.notEqual(c.status, 0);
  assert.match(c.err, /num_nextn_predict_layers/);
  const server = await startServer(noMtp, ['--threads', '1', '--mtp']);
  try {
    assert.equal(server.log().match(/num_nextn_predict_layers/g)?.length, 1, server.log());
    const got = await client(server).completions.create({ model: 'm', prompt: PROMPT, max_tokens: 4, temperature: 0 });
    assert.equal(got.choices[0].text, ok(['run', noMtp, '-p', PROMPT, '-n', '4', '-t', '1', '--temp', '0']).out);
  } finally {
    await server.stop();
  }
};

await run(tests);
