// A tiny model whose greedy output is known, so the server's reasoning and tool-call paths can be
// reached end to end with a real client. Built from a `fathom synth --preset tiny-v3 --dtype f32`
// checkpoint:
//   - every attention o_proj and MLP down_proj is zeroed, so each layer adds nothing to the
//     residual and the final hidden state is the current token's embedding: a bigram model;
//   - the tokens of the scripts below get one-hot embeddings (the final norm weight set to 1), and
//     lm_head rows are written so that logit(next | current) is a chosen weight (60, 45, 30) for the
//     script's successor and 0 for every other token;
//   - the tokenizer gets added tokens for the DeepSeek tool-call markers and the script pieces (ids
//     freed by dropping the last learned merges), and a DeepSeek-like chat template with tools.
// After <｜Assistant｜> the model thinks (60); with logit_bias {<think>: -100} it calls a tool (45);
// biasing that away too, it answers "Hello there!" (30).
import fs from 'node:fs';
import path from 'node:path';

export const PIECES = {
  callsBegin: '<｜tool▁calls▁begin｜>', callsEnd: '<｜tool▁calls▁end｜>',
  callBegin: '<｜tool▁call▁begin｜>', callEnd: '<｜tool▁call▁end｜>', sep: '<｜tool▁sep｜>',
  fn: 'function', name: 'get_weather', open: '\n```json\n', args: '{"city": "Paris"}', close: '\n```',
  thought: 'Let me think.', answer: 'The answer is 4.', hello: 'Hello there!',
};

const TEMPLATE =
  "{{ bos_token }}" +
  "{%- if tools %}{{ 'Tools:' }}{% for t in tools %}{{ ' ' + t.function.name }}{% endfor %}{{ '\\n' }}{% endif %}" +
  "{%- for m in messages %}" +
  "{%- if m.role == 'system' %}{{ m.content + '\\n' }}" +
  "{%- elif m.role == 'user' %}{{ '<｜User｜>' + m.content }}" +
  "{%- elif m.role == 'assistant' %}{{ '<｜Assistant｜>' }}" +
  "{%- if m.tool_calls %}{{ '<｜tool▁calls▁begin｜>' }}{% for tc in m.tool_calls %}" +
  "{{ '<｜tool▁call▁begin｜>function<｜tool▁sep｜>' + tc.function.name + '\\n```json\\n' + tc.function.arguments + '\\n```<｜tool▁call▁end｜>' }}" +
  "{% endfor %}{{ '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>' }}" +
  "{%- else %}{% set c = m.content %}{% if '</think>' in c %}{% set c = c.split('</think>')[-1] %}{% endif %}" +
  "{{ c + '<｜end▁of▁sentence｜>' }}{% endif %}" +
  "{%- elif m.role == 'tool' %}{{ 'Result: ' + m.content + '\\n' }}" +
  "{%- endif %}{%- endfor %}" +
  "{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}";

function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  return { buf, header, base: 8 + n };
}

function tensorView(st, name) {
  const t = st.header[name];
  if (t.dtype !== 'F32') throw new Error(`${name}: expected F32, got ${t.dtype} (synth with --dtype f32)`);
  const [a, b] = t.data_offsets;
  return { off: st.base + a, count: (b - a) / 4, shape: t.shape };
}

export function makeScriptedModel(synthDir, outDir) {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(synthDir))
    if (!f.endsWith('.safetensors')) fs.copyFileSync(path.join(synthDir, f), path.join(outDir, f));
  const config = JSON.parse(fs.readFileSync(path.join(synthDir, 'config.json'), 'utf8'));
  const H = config.hidden_size, V = config.vocab_size;

  // Tokenizer: free the ids of the last merges and give them to the script's pieces.
  const tj = JSON.parse(fs.readFileSync(path.join(synthDir, 'tokenizer.json'), 'utf8'));
  const pieces = Object.values(PIECES);
  const merges = tj.model.merges;
  const dropped = merges.splice(merges.length - pieces.length, pieces.length);
  const freed = dropped.map(m => {
    const [a, b] = Array.isArray(m) ? m : m.split(' ');
    const id = tj.model.vocab[a + b];
    delete tj.model.vocab[a + b];
    return id;
  });
  const ids = {};
  Object.keys(PIECES).forEach((k, i) => {
    ids[k] = freed[i];
    tj.added_tokens.push({ id: freed[i], content: PIECES[k], single_word: false, lstrip: false, rstrip: false,
                           normalized: false, special: false });
  });
  tj.added_tokens.sort((a, b) => a.id - b.id);
  const byContent = c => tj.added_tokens.find(t => t.content === c).id;
  ids.bos = byContent('<｜begin▁of▁sentence｜>');
  ids.eos = byContent('<｜end▁of▁sentence｜>');
  ids.assistant = byContent('<｜Assistant｜>');
  ids.think = byContent('<think>');
  ids.endThink = byContent('</think>');
  fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify(tj, null, 2));
  const tc = JSON.parse(fs.readFileSync(path.join(synthDir, 'tokenizer_config.json'), 'utf8'));
  tc.chat_template = TEMPLATE;
  fs.writeFileSync(path.join(outDir, 'tokenizer_config.json'), JSON.stringify(tc, null, 2));

  // The scripts: current token -> [[next token, logit]].
  const next = new Map();
  const edge = (a, b, w) => { if (!next.has(a)) next.set(a, []); next.get(a).push([b, w]); };
  // Gaps of 15 between the three choices: requests sample at the OpenAI default temperature 1, and
  // a gap of 5 (25 vs 20, as first written) let the answer win over the tool call e^-5 = 0.7% of the
  // time — a flaky toolCall test. At 15 that is 3e-7.
  edge(ids.assistant, ids.think, 60);
  edge(ids.assistant, ids.callsBegin, 45);
  edge(ids.assistant, ids.hello, 30);
  const chain = (list) => { for (let i = 0; i + 1 < list.length; ++i) edge(list[i], list[i + 1], 60); };
  chain([ids.think, ids.thought, ids.endThink, ids.answer, ids.eos]);
  chain([ids.callsBegin, ids.callBegin, ids.fn, ids.sep, ids.name, ids.open, ids.args, ids.close, ids.callEnd,
         ids.callsEnd, ids.eos]);
  chain([ids.hello, ids.eos]);
  const sources = [...next.keys()];
  if (sources.length > H) throw new Error('more script tokens than hidden dimensions');
  const slot = new Map(sources.map((t, i) => [t, i]));

  for (const f of fs.readdirSync(synthDir).filter(f => f.endsWith('.safetensors'))) {
    const st = readSafetensors(path.join(synthDir, f));
    const buf = st.buf;
    for (const name of Object.keys(st.header)) {
      if (name === '__metadata__') continue;
      const v = tensorView(st, name);
      if (/(o_proj|down_proj)\.weight$/.test(name)) {
        buf.fill(0, v.off, v.off + v.count * 4);
      } else if (name === 'model.norm.weight') {
        for (let i = 0; i < v.count; ++i) buf.writeFloatLE(1, v.off + 4 * i);
      } else if (name === 'model.embed_tokens.weight') {
        for (const [t, s] of slot)
          for (let j = 0; j < H; ++j) buf.writeFloatLE(j === s ? 1 : 0, v.off + 4 * (t * H + j));
      } else if (name === 'lm_head.weight') {
        buf.fill(0, v.off, v.off + v.count * 4);
        // rmsnorm(one-hot) = sqrt(H) * one-hot, so the weight is divided by sqrt(H).
        for (const [t, list] of next)
          for (const [u, w] of list) buf.writeFloatLE(w / Math.sqrt(H), v.off + 4 * (u * H + slot.get(t)));
      }
    }
    fs.writeFileSync(path.join(outDir, f), buf);
  }
  if (Math.max(...Object.values(ids)) >= V) throw new Error('token id beyond vocab_size');
  return ids;
}
