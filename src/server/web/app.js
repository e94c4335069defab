// The chat page's behaviour: conversations in the sidebar, sending and streaming, Stop, settings and
// the API key. Storage is store.js, the request stream.js, the drawing render.js.
import * as store from './store.js';
import { streamChat, decodeRate } from './stream.js';
import { MessageView } from './render.js';

const $ = id => document.getElementById(id);
const ui = {
  list: $('conversations'), messages: $('messages'), input: $('input'), send: $('send'), stop: $('stop'),
  status: $('status'), model: $('model-name'), settings: $('settings'), settingsForm: $('settings-form'),
  settingsError: $('settings-error'), mtpSetting: $('mtp-setting'), keyDialog: $('key-dialog'),
  keyForm: $('key-form'),
};

const state = {
  conversations: store.loadConversations(),
  current: null,
  settings: store.loadSettings(),
  apiKey: store.loadApiKey(),
  server: { model: '', mtp: false },
  streaming: null,  // { conv, controller, msg } while an answer is coming in
};
// Each message's view, kept so a redraw does not lose what the user opened or closed.
const views = new WeakMap();
function viewOf(msg) {
  let v = views.get(msg);
  if (!v) views.set(msg, (v = new MessageView(msg)));
  return v;
}

// ---- conversations -------------------------------------------------------------------------

function save() {
  store.saveConversations(state.conversations);
}

function select(conv) {
  state.current = conv;
  store.saveCurrentId(conv.id);
  document.body.classList.remove('sidebar-open');
  drawList();
  drawMessages();
  ui.input.focus();
}

function startNew() {
  // An untouched new chat is reused rather than piling up empty ones.
  const empty = state.conversations.find(c => c.messages.length === 0);
  const conv = empty ?? store.newConversation();
  if (!empty) state.conversations.unshift(conv);
  save();
  select(conv);
}

function remove(conv) {
  if (!confirm(`Delete "${conv.title}"?`)) return;
  if (state.streaming?.conv === conv) state.streaming.controller.abort();
  state.conversations = state.conversations.filter(c => c !== conv);
  save();
  if (state.current === conv) {
    if (state.conversations.length) select(state.conversations[0]);
    else startNew();
  } else {
    drawList();
  }
}

function rename(conv, li) {
  const input = document.createElement('input');
  input.className = 'rename';
  input.value = conv.title;
  input.setAttribute('aria-label', 'New name');
  const title = li.querySelector('.title');
  title.replaceWith(input);
  input.focus();
  input.select();
  let done = false;
  const finish = keep => {
    if (done) return;
    done = true;
    if (keep && input.value.trim()) {
      conv.title = input.value.trim();
      save();
    }
    drawList();
  };
  input.addEventListener('keydown', e => {
    if (e.key === 'Enter') finish(true);
    if (e.key === 'Escape') finish(false);
  });
  input.addEventListener('blur', () => finish(true));
}

function drawList() {
  ui.list.replaceChildren();
  for (const conv of [...state.conversations].sort((a, b) => b.updated - a.updated)) {
    const li = document.createElement('li');
    li.classList.toggle('current', conv === state.current);
    li.dataset.id = conv.id;
    const title = document.createElement('button');
    title.type = 'button';
    title.className = 'title';
    title.textContent = conv.title;
    title.addEventListener('click', () => select(conv));
    const ren = document.createElement('button');
    ren.type = 'button';
    ren.className = 'rename-button';
    ren.title = 'Rename';
    ren.textContent = '\u270E';
    ren.addEventListener('click', () => rename(conv, li));
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'delete-button';
    del.title = 'Delete';
    del.textContent = '\u2715';
    del.addEventListener('click', () => remove(conv));
    li.append(title, ren, del);
    ui.list.appendChild(li);
  }
}

function drawMessages() {
  ui.messages.replaceChildren();
  for (const msg of state.current.messages) {
    ui.messages.appendChild(viewOf(msg).root);
  }
  ui.messages.scrollTop = ui.messages.scrollHeight;
  drawButtons();
}

function drawButtons() {
  const busy = Boolean(state.streaming);
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  ui.status.textContent = busy ? 'generating\u2026' : '';
}

// ---- sending ---------------------------------------------------------------------------------

// The history as the API takes it: the system prompt, then every turn (reasoning is not sent back,
// as DeepSeek's templates expect; failed answers are left out).
function requestMessages(conv) {
  const out = [];
  if (state.settings.system.trim()) out.push({ role: 'system', content: state.settings.system });
  for (const m of conv.messages) {
    if (m.role === 'user') out.push({ role: 'user', content: m.content });
    else if (m.content || m.tool_calls?.length) {
      const a = { role: 'assistant', content: m.content ?? '' };
      if (m.tool_calls?.length) a.tool_calls = m.tool_calls;
      out.push(a);
    }
  }
  return out;
}

function requestBody(conv) {
  const s = state.settings;
  const body = { model: state.server.model || undefined, messages: requestMessages(conv),
                 temperature: s.temperature, top_p: s.top_p, max_tokens: s.max_tokens };
  if (s.seed !== null && s.seed !== '') body.seed = s.seed;
  // Sent only to a server that says it can draft with MTP: others reject unknown fields.
  if (state.server.mtp) body.mtp = Boolean(s.mtp);
  return { ...body, ...(s.extra.trim() ? JSON.parse(s.extra) : {}) };
}

function applyDelta(msg, d) {
  if (d.reasoning_content) msg.reasoning = (msg.reasoning ?? '') + d.reasoning_content;
  if (d.content) msg.content += d.content;
  for (const tc of d.tool_calls ?? []) {
    msg.tool_calls ??= [];
    const call = (msg.tool_calls[tc.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
    if (tc.id) call.id = tc.id;
    if (tc.function?.name) call.function.name += tc.function.name;
    if (tc.function?.arguments) call.function.arguments += tc.function.arguments;
  }
}

async function send() {
  const text = ui.input.value;
  if (!text.trim() || state.streaming) return;
  const conv = state.current;
  conv.messages.push({ role: 'user', content: text });
  if (conv.title === 'New chat') conv.title = text.trim().split('\n')[0].slice(0, 40);
  const body = requestBody(conv);
  const msg = { role: 'assistant', content: '', reasoning: '' };
  conv.messages.push(msg);
  conv.updated = Date.now();
  ui.input.value = '';
  growInput();
  const view = viewOf(msg);
  state.streaming = { conv, controller: new AbortController(), msg };
  save();
  drawList();
  if (state.current === conv) drawMessages();

  let pending = false;
  const redraw = () => {
    pending = false;
    const stick = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
    view.update(msg, state.streaming?.msg === msg);
    if (stick) ui.messages.scrollTop = ui.messages.scrollHeight;
  };
  try {
    const result = await streamChat({
      body, apiKey: state.apiKey, signal: state.streaming.controller.signal,
      onDelta(d) {
        applyDelta(msg, d);
        if (!pending) {
          pending = true;
          requestAnimationFrame(redraw);
        }
      },
    });
    const u = result.usage ?? {};
    msg.stats = { completion_tokens: u.completion_tokens, prompt_tokens: u.prompt_tokens,
                  cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0, tokens_per_second: decodeRate(result),
                  first_token_ms: result.timing.first === null ? undefined : result.timing.first - result.timing.start,
                  finish: result.finish };
  } catch (e) {
    if (e.name === 'AbortError') {
      msg.stats = { stopped: true };
    } else if (e.status === 401) {
      // Nothing was generated: take the turn back, and ask for the key.
      conv.messages.splice(conv.messages.indexOf(msg) - 1, 2);
      ui.input.value = text;
      askKey();
    } else {
      msg.stats = { error: e.message };
    }
  } finally {
    state.streaming = null;
    conv.updated = Date.now();
    save();
    view.update(msg);
    if (state.current === conv) drawMessages();
    drawButtons();
  }
}

function growInput() {
  ui.input.style.height = 'auto';
  ui.input.style.height = Math.min(ui.input.scrollHeight, 200) + 'px';
}

// ---- settings and the key ----------------------------------------------------------------------

function openSettings() {
  const f = ui.settingsForm.elements;
  const s = state.settings;
  f.system.value = s.system;
  f.temperature.value = s.temperature;
  f.top_p.value = s.top_p;
  f.max_tokens.value = s.max_tokens;
  f.seed.value = s.seed ?? '';
  f.mtp.checked = s.mtp;
  f.extra.value = s.extra;
  f.api_key.value = state.apiKey;
  ui.settingsError.textContent = '';
  ui.mtpSetting.hidden = !state.server.mtp;
  ui.settings.showModal();
}

function readSettings() {
  const f = ui.settingsForm.elements;
  const num = (v, fallback) => (v === '' || !Number.isFinite(Number(v)) ? fallback : Number(v));
  const extra = f.extra.value.trim();
  if (extra) {
    let parsed;
    try {
      parsed = JSON.parse(extra);
    } catch (e) {
      throw new Error('Extra request fields: ' + e.message);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('Extra request fields must be a JSON object');
  }
  return { system: f.system.value, temperature: num(f.temperature.value, store.DEFAULT_SETTINGS.temperature),
           top_p: num(f.top_p.value, store.DEFAULT_SETTINGS.top_p),
           max_tokens: Math.max(1, Math.round(num(f.max_tokens.value, store.DEFAULT_SETTINGS.max_tokens))),
           seed: f.seed.value === '' ? null : Math.round(num(f.seed.value, 0)), mtp: f.mtp.checked, extra };
}

ui.settingsForm.addEventListener('submit', e => {
  if (e.submitter?.value !== 'save') return;
  try {
    state.settings = readSettings();
  } catch (err) {
    e.preventDefault();
    ui.settingsError.textContent = err.message;
    return;
  }
  store.saveSettings(state.settings);
  const key = ui.settingsForm.elements.api_key.value.trim();
  if (key !== state.apiKey) setKey(key);
});

function askKey() {
  ui.keyForm.elements.key.value = state.apiKey;
  if (!ui.keyDialog.open) ui.keyDialog.showModal();
}

function setKey(key) {
  state.apiKey = key;
  store.saveApiKey(key);
  loadModel();
}

ui.keyForm.addEventListener('submit', () => setKey(ui.keyForm.elements.key.value.trim()));

// ---- the server ------------------------------------------------------------------------------

async function loadModel() {
  const headers = state.apiKey ? { Authorization: 'Bearer ' + state.apiKey } : {};
  try {
    const res = await fetch('/v1/models', { headers });
    if (res.status === 401) return askKey();
    const list = await res.json();
    state.server.model = list.data?.[0]?.id ?? '';
    ui.model.textContent = state.server.model;
  } catch {
    ui.status.textContent = 'the server does not answer';
  }
}

async function loadHealth() {
  try {
    const health = await (await fetch('/health')).json();
    // MTP on/off is offered only when the server says it can draft (the `mtp` field of /health).
    state.server.mtp = Boolean(health.mtp);
  } catch {}
}

// ---- wiring ----------------------------------------------------------------------------------

$('composer').addEventListener('submit', e => {
  e.preventDefault();
  send();
});
ui.input.addEventListener('keydown', e => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
ui.input.addEventListener('input', growInput);
ui.stop.addEventListener('click', () => state.streaming?.controller.abort());
$('new-chat').addEventListener('click', startNew);
$('open-settings').addEventListener('click', openSettings);
$('toggle-sidebar').addEventListener('click', () => document.body.classList.toggle('sidebar-open'));
$('scrim').addEventListener('click', () => document.body.classList.remove('sidebar-open'));

const savedId = store.loadCurrentId();
const first = state.conversations.find(c => c.id === savedId) ?? state.conversations[0];
if (first) select(first);
else startNew();
loadHealth();
loadModel();
