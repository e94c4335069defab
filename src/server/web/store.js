// The browser's storage of the chat page: conversations, settings and the API key, in localStorage
// (so they survive reloads and stay on this machine). A conversation is
//   { id, title, updated, messages: [{ role, content, reasoning?, tool_calls?, stats? }] }.
const KEYS = { conversations: 'fathom.conversations', current: 'fathom.current',
               settings: 'fathom.settings', apiKey: 'fathom.apiKey' };

export const DEFAULT_SETTINGS = { system: '', temperature: 0.7, top_p: 1, max_tokens: 512, seed: null,
                                  mtp: true, extra: '' };

function readJson(key, fallback) {
  try {
    const v = JSON.parse(localStorage.getItem(key));
    return v ?? fallback;
  } catch {
    return fallback;  // a corrupt entry is dropped, not fatal
  }
}

export function loadConversations() {
  const list = readJson(KEYS.conversations, []);
  return Array.isArray(list) ? list.filter(c => c && typeof c.id === 'string' && Array.isArray(c.messages)) : [];
}

export function saveConversations(list) {
  localStorage.setItem(KEYS.conversations, JSON.stringify(list));
}

export function newConversation() {
  const id = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  return { id, title: 'New chat', updated: Date.now(), messages: [] };
}

export const loadCurrentId = () => localStorage.getItem(KEYS.current);
export const saveCurrentId = id => localStorage.setItem(KEYS.current, id);

export function loadSettings() {
  return { ...DEFAULT_SETTINGS, ...readJson(KEYS.settings, {}) };
}

export const saveSettings = s => localStorage.setItem(KEYS.settings, JSON.stringify(s));
export const loadApiKey = () => localStorage.getItem(KEYS.apiKey) ?? '';
export function saveApiKey(key) {
  if (key) localStorage.setItem(KEYS.apiKey, key);
  else localStorage.removeItem(KEYS.apiKey);
}
