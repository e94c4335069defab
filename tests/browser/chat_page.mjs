// The chat page at `/` (src/server/web/) in headless Chromium, driven by puppeteer-core, against real
// `fathom serve` processes:
//   - models/default, with --api-key: the page asks for the key; an answer streams in; Enter and
//     Shift+Enter; the second turn's prompt comes from the cache; conversations are renamed, deleted
//     and found again after a reload; Markdown and code render, raw HTML does not; the MTP switch
//     and the request's `mtp` only where /health reports it; phone-sized layout;
//   - a synthesized 64-layer tiny-v3, slow enough that Stop lands mid-answer: the server cancels the
//     generation and frees its only slot;
//   - the scripted model (tests/server/scripted_model.mjs): reasoning in a collapsible block, and a
//     tool call.
//   node tests/browser/chat_page.mjs FATHOM TMP [--screenshots DIR]
// Screenshots go to TMP, or to DIR (docs/ refreshes the ones docs/SERVER.md shows).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FATHOM, TMP, startServer, synth, metric, run } from '../server/harness.mjs';
import { makeScriptedModel, PIECES } from '../server/scripted_model.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'npm', 'package.json'));
const puppeteer = require('puppeteer-core');

const shotArg = process.argv.indexOf('--screenshots');
const SHOTS = shotArg > 0 ? path.resolve(process.argv[shotArg + 1]) : path.join(TMP, 'screenshots');
fs.mkdirSync(SHOTS, { recursive: true });
const CHROMIUM = process.env.CHROMIUM ?? execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();

const KEY = 'sk-browser-test';
const defaultModel = path.join(here, '..', '..', 'models', 'default');
const main = await startServer(defaultModel, ['--api-key', KEY, '--parallel', '2', '--threads', '1']);

// Slow on purpose: 64 layers of random weights decode a few hundred tokens a second on one thread,
// so a 3000-token answer runs for seconds and Stop always lands in the middle of it.
const slowDir = path.join(TMP, 'tiny-v3-64-layers');
if (!fs.existsSync(path.join(slowDir, 'config.json')))
  execFileSync(FATHOM, ['synth', '--preset', 'tiny-v3', '--layers', '64', '--dtype', 'bf16', '--out', slowDir],
               { stdio: 'ignore' });
const slow = await startServer(slowDir, ['--parallel', '1', '--threads', '1']);
const slowEos = JSON.parse(fs.readFileSync(path.join(slowDir, 'config.json'), 'utf8')).eos_token_id;

const ids = makeScriptedModel(synth('tiny-v3', path.join(TMP, 'tiny-v3-f32')), path.join(TMP, 'scripted'));
const scripted = await startServer(path.join(TMP, 'scripted'), ['--parallel', '1', '--threads', '1']);

const browser = await puppeteer.launch({
  executablePath: CHROMIUM, headless: true,
  // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const errors = [];
async function openPage(server, viewport = { width: 1100, height: 720 }) {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  page.on('pageerror', e => errors.push(`${server.url}: ${e.message}`));
  page.on('console', m => {
    // The 401 the page gets before it has the key is expected; anything else logged is a bug.
    if (m.type() === 'error' && !m.text().includes('401')) errors.push(`${server.url}: ${m.text()}`);
  });
  page.on('dialog', d => d.accept());  // the delete confirmation
  await page.goto(server.url + '/');
  return page;
}

const text = (page, sel) => page.$eval(sel, e => e.textContent);
const all = (page, sel) => page.$$eval(sel, es => es.map(e => e.textContent));
const visible = (page, sel) => page.$eval(sel, e => !e.hidden && e.getClientRects().length > 0);

async function send(page, message) {
  await page.focus('#input');
  await page.keyboard.type(message);
  await page.keyboard.press('Enter');
}

// Waits for the answer in progress to end; returns its stats line.
async function answered(page) {
  await page.waitForSelector('#send:not([hidden])');
  return text(page, '.msg.assistant:last-child .stats');
}

async function setSettings(page, fields) {
  await page.click('#open-settings');
  await page.waitForSelector('#settings[open]');
  for (const [name, value] of Object.entries(fields))
    await page.$eval(`#settings-form [name=${name}]`, (e, v) => { e.value = v; }, String(value));
  await page.click('#save-settings');
  await page.waitForSelector('#settings:not([open])');
}

// Records every state of the last answer as it renders: [characters shown, Stop button shown].
async function watchAnswer(page) {
  await page.evaluate(() => {
    window.__frames = [];
    new MutationObserver(() => {
      const c = document.querySelector('.msg.assistant:last-child .content');
      if (c) window.__frames.push([c.textContent.length, !document.getElementById('stop').hidden]);
    }).observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
  });
}

let page;

await run({
  async asksForTheKeyThenShowsTheModel() {
    page = await openPage(main);
    await page.waitForSelector('#key-dialog[open]');
    await page.type('#key-form [name=key]', KEY);
    await page.click('#key-form button');
    await page.waitForFunction(() => document.getElementById('model-name').textContent === 'default');
    assert.equal(await page.evaluate(() => localStorage.getItem('fathom.apiKey')), KEY);
  },

  async answerStreamsIn() {
    // EOS biased away, so the answer is always max_tokens long (and streams for a while).
    await setSettings(page, { max_tokens: 600, seed: 7, extra: JSON.stringify({ logit_bias: { 1: -100 } }) });
    await watchAnswer(page);
    await send(page, 'Once upon a time');
    const stats = await answered(page);
    const frames = await page.evaluate(() => window.__frames);
    // Part of the answer was on screen while Stop was still offered: it arrived piece by piece.
    assert.ok(frames.some(([n, stop]) => n > 0 && stop), 'no partial answer was shown while generating');
    assert.match(stats, /^600 tokens · [\d.]+ tok\/s · prompt \d+ tokens, 0 from cache · first token \d+ ms · stopped at the token limit$/);
    assert.ok((await text(page, '.msg.assistant:last-child .content')).length > 100);
    assert.deepEqual(await all(page, '#conversations .title'), ['Once upon a time']);
  },

  async shiftEnterBreaksTheLineAndTheHistoryComesFromTheCache() {
    await setSettings(page, { max_tokens: 20 });
    await page.focus('#input');
    await page.keyboard.type('first line');
    await page.keyboard.down('Shift');
    await page.keyboard.press('Enter');
    await page.keyboard.up('Shift');
    await page.keyboard.type('second line');
    await page.keyboard.press('Enter');
    const firstPrompt = Number((await text(page, '.msg.assistant .stats')).match(/prompt (\d+) tokens/)[1]);
    const stats = await answered(page);
    assert.equal(await text(page, '.msg.user:nth-last-child(2) .bubble'), 'first line\nsecond line');
    // At least the first turn's prompt was in the slot's cache. (Its answer rarely is: sampled tokens
    // are seldom the tokenizer's own split of their text, which is what the history is sent as.)
    const cached = Number(stats.match(/, (\d+) from cache/)[1]);
    assert.ok(cached >= firstPrompt && firstPrompt > 0, stats);
  },

  async markdownAndCodeRenderButRawHtmlDoesNot() {
    // A canned stream, so the answer holds exactly the Markdown under test.
    const answer = '## Steps\n\n```python\nprint("hi")\n```\n\n<img src=x onerror="window.__xss=1"> and `inline`';
    const events = [{ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] },
                    { choices: [{ index: 0, delta: { content: answer.slice(0, 20) } }] },
                    { choices: [{ index: 0, delta: { content: answer.slice(20) } }] },
                    { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }];
    await page.setRequestInterception(true);
    let sent = null;
    const respond = req => {
      if (req.method() !== 'POST' || !req.url().endsWith('/v1/chat/completions')) return req.continue();
      sent = JSON.parse(req.postData());
      req.respond({ status: 200, contentType: 'text/event-stream',
                    body: events.map(e => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n' });
    };
    page.on('request', respond);
    await page.click('#new-chat');
    await send(page, 'Show me Markdown');
    await answered(page);
    page.off('request', respond);
    await page.setRequestInterception(false);
    const last = '.msg.assistant:last-child .content';
    assert.equal(await text(page, `${last} h2`), 'Steps');
    assert.equal(await text(page, `${last} pre code.hljs.language-python`), 'print("hi")\n');
    assert.ok((await page.$$(`${last} pre code .hljs-string`)).length > 0, 'the code is not highlighted');
    assert.equal(await text(page, `${last} p code`), 'inline');
    assert.equal((await page.$$(`${last} img`)).length, 0);
    assert.ok((await text(page, last)).includes('<img src=x'));
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    // This server does not report MTP, so the request has no `mtp` (it would be a 400).
    assert.equal(sent.stream, true);
    assert.equal('mtp' in sent, false);
  },

  async mtpSwitchOnlyWhereTheServerReportsIt() {
    assert.equal(await page.$eval('#mtp-setting', e => e.hidden), true);
    const p = await browser.newPage();
    await p.setRequestInterception(true);
    let sent = null;
    p.on('request', req => {
      if (req.url().endsWith('/health'))
        return req.respond({ status: 200, contentType: 'application/json', body: JSON.stringify({ status: 'ok', mtp: true }) });
      if (req.method() === 'POST' && req.url().endsWith('/v1/chat/completions')) {
        sent = JSON.parse(req.postData());
        return req.respond({ status: 200, contentType: 'text/event-stream', body: 'data: [DONE]\n\n' });
      }
      req.continue();
    });
    await p.goto(main.url + '/');
    await p.waitForFunction(() => document.getElementById('model-name').textContent === 'default');
    await p.click('#open-settings');
    await p.waitForSelector('#settings[open]');
    assert.equal(await p.$eval('#mtp-setting', e => e.hidden), false);
    await p.click('#settings-form [name=mtp]');  // on by default: now off
    await p.click('#save-settings');
    await send(p, 'Hi');
    await answered(p);
    assert.equal(sent.mtp, false);
    await p.close();
  },

  async conversationsAreRenamedDeletedAndKeptAcrossReloads() {
    assert.deepEqual(await all(page, '#conversations .title'), ['Show me Markdown', 'Once upon a time']);
    // Rename the older one.
    const older = '#conversations li:nth-child(2)';
    await page.click(`${older} .rename-button`);
    await page.waitForSelector(`${older} input.rename`);
    await page.$eval(`${older} input.rename`, e => { e.value = ''; });
    await page.type(`${older} input.rename`, 'Stories');
    await page.keyboard.press('Enter');
    await page.click(`${older} .title`);
    assert.equal(await text(page, '#conversations li.current .title'), 'Stories');

    await page.reload();
    await page.waitForFunction(() => document.getElementById('model-name').textContent === 'default');
    assert.deepEqual(await all(page, '#conversations .title'), ['Show me Markdown', 'Stories']);
    // The conversation that was open is open again, with its turns.
    assert.equal(await text(page, '#conversations li.current .title'), 'Stories');
    assert.deepEqual(await all(page, '.msg.user .bubble'), ['Once upon a time', 'first line\nsecond line']);
    assert.equal((await page.$$('.msg.assistant')).length, 2);
    await page.screenshot({ path: path.join(SHOTS, 'web-chat.png') });

    // Delete the other one (the page asks first; the test accepts).
    await page.click('#conversations li:nth-child(1) .delete-button');
    await page.reload();
    await page.waitForSelector('#conversations li');
    assert.deepEqual(await all(page, '#conversations .title'), ['Stories']);
  },

  async phoneSizedScreen() {
    const phone = await openPage(main, { width: 390, height: 844, isMobile: true, hasTouch: true });
    await phone.waitForFunction(() => document.getElementById('model-name').textContent === 'default');
    const fits = () => phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(await fits(), 'the page is wider than the phone');
    assert.ok(await visible(phone, '#toggle-sidebar'));
    const sidebarRight = () => phone.$eval('#sidebar', e => e.getBoundingClientRect().right);
    assert.ok(await sidebarRight() <= 0, 'the sidebar covers the chat');
    assert.ok(await visible(phone, '#input'));
    await phone.screenshot({ path: path.join(SHOTS, 'web-phone.png') });
    await phone.click('#toggle-sidebar');
    await phone.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left >= 0);
    await phone.click('#conversations .title');  // choosing a conversation closes the drawer
    await phone.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().right <= 0);
    assert.ok(await fits());
    await phone.close();
  },

  async stopCancelsTheGenerationAndFreesTheSlot() {
    const p = await openPage(slow);
    await p.waitForFunction(() => document.getElementById('model-name').textContent !== '');
    await setSettings(p, { max_tokens: 3000, temperature: 0, extra: JSON.stringify({ logit_bias: { [slowEos]: -100 } }) });
    await send(p, 'Tell me a long story');
    await p.waitForFunction(() => document.querySelector('.msg.assistant:last-child .content').textContent.length > 0);
    assert.ok(await visible(p, '#stop'));
    await p.click('#stop');
    assert.equal(await answered(p), 'stopped');
    assert.ok((await text(p, '.msg.assistant:last-child .content')).length > 0, 'the partial answer was dropped');
    // The server saw the connection close: the generation is cancelled and its slot free.
    for (;;) {
      if (await metric(slow, 'fathom_generations_cancelled_total') === 1 &&
          await metric(slow, 'fathom_active_sequences') === 0) break;
      await new Promise(r => setTimeout(r, 50));
    }
    assert.ok(await metric(slow, 'fathom_completion_tokens_total') < 3000);
    assert.equal(await metric(slow, 'fathom_generations_finished_total'), 0);
    // The only slot serves the next answer.
    await setSettings(p, { max_tokens: 5 });
    await send(p, 'Shorter, please');
    assert.match(await answered(p), /^5 tokens · /);
    await p.close();
  },

  async reasoningIsCollapsibleAndToolCallsShow() {
    const p = await openPage(scripted);
    await p.waitForFunction(() => document.getElementById('model-name').textContent === 'scripted');
    await setSettings(p, { temperature: 0 });
    await send(p, 'What is 2+2?');
    await answered(p);
    const last = '.msg.assistant:last-child';
    assert.equal((await text(p, `${last} .reasoning-text`)).trim(), PIECES.thought);
    assert.equal((await text(p, `${last} .content`)).trim(), PIECES.answer);
    // Closed once the answer began; a click on its summary opens it.
    assert.equal(await p.$eval(`${last} .reasoning`, e => e.open), false);
    await p.click(`${last} .reasoning summary`);
    assert.equal(await p.$eval(`${last} .reasoning`, e => e.open), true);

    const tools = [{ type: 'function', function: { name: PIECES.name, parameters: { type: 'object',
      properties: { city: { type: 'string' } } } } }];
    await setSettings(p, { extra: JSON.stringify({ tools, logit_bias: { [ids.think]: -100 } }) });
    await send(p, 'And the weather?');
    await answered(p);
    assert.equal(await text(p, `${last} .tool-name`), `Tool call: ${PIECES.name}`);
    assert.deepEqual(JSON.parse(await text(p, `${last} .tool-args`)), JSON.parse(PIECES.args));
    await p.screenshot({ path: path.join(SHOTS, 'web-reasoning.png') });
    await p.close();
  },

  async noErrorsInThePages() {
    assert.deepEqual(errors, []);
  },
}, async () => {
  await browser.close();
  for (const s of [main, slow, scripted]) await s.stop();
});
