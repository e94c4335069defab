// One streamed chat completion: POST /v1/chat/completions with stream: true, its server-sent events
// read as they arrive. Deltas go to onDelta; the promise resolves to { finish, usage, timing }, or
// rejects with an Error whose .status is the HTTP status (401: the key is missing or wrong). An
// aborted signal (the Stop button) closes the connection, which makes the server cancel the
// generation and free its slot.
export async function streamChat({ body, apiKey, signal, onDelta }) {
  const start = performance.now();
  const headers = { 'Content-Type': 'application/json' };
  if (apiKey) headers.Authorization = 'Bearer ' + apiKey;
  const res = await fetch('/v1/chat/completions', {
    method: 'POST', headers, signal,
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok) throw await httpError(res);

  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const result = { finish: null, usage: null, timing: { start, first: null, last: null } };
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return result;
        handle(JSON.parse(data), result, onDelta);
      }
    }
  }
  return result;
}

function handle(chunk, result, onDelta) {
  if (chunk.error) throw Object.assign(new Error(chunk.error.message), { status: 500 });
  if (chunk.usage) result.usage = chunk.usage;
  for (const choice of chunk.choices ?? []) {
    const d = choice.delta ?? {};
    if (d.content || d.reasoning_content || d.tool_calls) {
      const now = performance.now();
      result.timing.first ??= now;
      result.timing.last = now;
      onDelta(d);
    }
    if (choice.finish_reason) result.finish = choice.finish_reason;
  }
}

async function httpError(res) {
  let message = `HTTP ${res.status}`;
  try {
    message = (await res.json()).error?.message ?? message;
  } catch {}
  return Object.assign(new Error(message), { status: res.status });
}

// Tokens per second of the decode, from the server's usage and the arrival times of the first and
// last token: the first token's time is the prompt's, so it is left out of the rate. An answer that
// arrived within MIN_SPAN_MS came in a handful of network reads, whose times measure the connection
// rather than the model, so it gets no rate.
const MIN_SPAN_MS = 100;
export function decodeRate(result) {
  const n = result.usage?.completion_tokens ?? 0;
  const { first, last } = result.timing;
  if (n < 2 || first === null || last - first < MIN_SPAN_MS) return null;
  return (n - 1) / ((last - first) / 1000);
}
