// How messages look: Markdown (markdown-it, raw HTML off, so model output can never inject markup)
// with highlighted code (highlight.js), reasoning in a collapsible block, tool calls as name and
// arguments, and the figures of each answer under it. Both libraries come from vendor.js.
const md = window.markdownit({
  html: false,
  linkify: true,
  highlight(code, lang) {
    const language = lang && window.hljs.getLanguage(lang) ? lang : null;
    const body = language ? window.hljs.highlight(code, { language, ignoreIllegals: true }).value
                          : md.utils.escapeHtml(code);
    return `<pre><code class="hljs${language ? ' language-' + language : ''}">${body}</code></pre>`;
  },
});
// Links open beside the chat, and give the opened page no handle on this one.
const defaultLinkOpen = md.renderer.rules.link_open ?? ((t, i, o, e, self) => self.renderToken(t, i, o));
md.renderer.rules.link_open = (tokens, i, options, env, self) => {
  tokens[i].attrSet('target', '_blank');
  tokens[i].attrSet('rel', 'noopener noreferrer');
  return defaultLinkOpen(tokens, i, options, env, self);
};

export const renderMarkdown = text => md.render(text);

function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

// The view of one message; update() redraws it from the message as it grows.
export class MessageView {
  constructor(msg) {
    this.root = el('div', 'msg ' + msg.role);
    if (msg.role === 'user') {
      el('div', 'bubble', this.root).textContent = msg.content;
      return;
    }
    this.reasoning = el('details', 'reasoning', this.root);
    el('summary', null, this.reasoning).textContent = 'Reasoning';
    this.reasoningText = el('div', 'reasoning-text markdown', this.reasoning);
    this.content = el('div', 'content markdown', this.root);
    this.tools = el('div', 'tool-calls', this.root);
    this.stats = el('div', 'stats', this.root);
    this.reasoningShown = '';
    this.contentShown = null;
    this.autoOpened = false;  // opened by the stream (not by a click), so the answer closes it
    this.update(msg);
  }

  update(msg, streaming = false) {
    if (msg.role === 'user') return;
    const reasoning = msg.reasoning ?? '';
    this.reasoning.hidden = !reasoning;
    if (reasoning !== this.reasoningShown) {
      // Open while the model is thinking; closed once the answer begins (a click reopens it).
      if (!this.reasoningShown && streaming && !msg.content) {
        this.reasoning.open = true;
        this.autoOpened = true;
      }
      this.reasoningText.innerHTML = renderMarkdown(reasoning);
      this.reasoningShown = reasoning;
    }
    // Not only while streaming: the answer's first text and the end of the stream can reach the
    // same redraw, which is no longer a streaming one.
    if (this.autoOpened && msg.content) {
      this.reasoning.open = false;
      this.autoOpened = false;
    }
    if (msg.content !== this.contentShown) {
      this.content.innerHTML = renderMarkdown(msg.content ?? '');
      this.contentShown = msg.content;
    }
    this.content.classList.toggle('pending', streaming && !msg.content && !reasoning);
    this.tools.replaceChildren(...(msg.tool_calls ?? []).map(toolCallView));
    this.stats.textContent = statsLine(msg.stats);
    this.stats.classList.toggle('error', Boolean(msg.stats?.error));
  }
}

function toolCallView(call) {
  const box = el('div', 'tool-call');
  el('div', 'tool-name', box).textContent = 'Tool call: ' + (call.function?.name ?? '');
  let args = call.function?.arguments ?? '';
  try {
    args = JSON.stringify(JSON.parse(args), null, 2);
  } catch {}  // still streaming, or not JSON: shown as it came
  el('pre', 'tool-args', box).textContent = args;
  return box;
}

function statsLine(s) {
  if (!s) return '';
  if (s.error) return 'Error: ' + s.error;
  const parts = [];
  if (s.completion_tokens !== undefined) parts.push(`${s.completion_tokens} tokens`);
  if (s.tokens_per_second) parts.push(`${s.tokens_per_second.toFixed(1)} tok/s`);
  if (s.prompt_tokens !== undefined)
    parts.push(`prompt ${s.prompt_tokens} tokens, ${s.cached_tokens ?? 0} from cache`);
  if (s.first_token_ms !== undefined) parts.push(`first token ${Math.round(s.first_token_ms)} ms`);
  if (s.stopped) parts.push('stopped');
  else if (s.finish === 'length') parts.push('stopped at the token limit');
  return parts.join(' · ');
}
