#!/usr/bin/env node
// Chat-template conformance: fathom's Jinja interpreter against @huggingface/jinja, byte for
// byte. The DeepSeek V2, V2.5, V3, R1 and V3.1 templates (tests/tokenizer/templates/) render many
// conversations (system / user / assistant / tool messages, tool calls, reasoning, unicode) with
// add_generation_prompt on and off; then small generic templates exercise the language features
// one by one. A case where the reference throws must make fathom report an error too.
//
//   node chat_conformance.js FATHOM_BINARY
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");
const { Template } = require("./refs.js").load("@huggingface/jinja");

const fathom = process.argv[2];
const BOS = "<｜begin▁of▁sentence｜>";
const EOS = "<｜end▁of▁sentence｜>";

const call = (name, args, id = "call_1") => ({ id, type: "function", function: { name, arguments: JSON.stringify(args) } });
const conversations = {
  simple: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Hello" },
    { role: "assistant", content: "Hi there" },
    { role: "user", content: "Who are you?" },
  ],
  no_system: [{ role: "user", content: "What is 2+2?" }],
  two_systems: [
    { role: "system", content: "First rule." },
    { role: "system", content: "Second rule." },
    { role: "user", content: "Go" },
  ],
  tool_calls: [
    { role: "system", content: "Use tools when needed." },
    { role: "user", content: "Weather in Paris and Tokyo?" },
    { role: "assistant", content: null, tool_calls: [call("get_weather", { city: "Paris" }), call("get_weather", { city: "東京" }, "call_2")] },
    { role: "tool", tool_call_id: "call_1", content: "{\"temp\": 21}" },
    { role: "tool", tool_call_id: "call_2", content: "{\"temp\": 18}" },
    { role: "assistant", content: "Paris is 21°C, Tokyo 18°C." },
    { role: "user", content: "Thanks!" },
  ],
  tool_call_with_content: [
    { role: "user", content: "Look it up" },
    { role: "assistant", content: "Let me check.", tool_calls: [call("search", { q: "fathom \"engine\"" })] },
    { role: "tool", content: "no results" },
  ],
  ends_with_tool: [
    { role: "user", content: "Time?" },
    { role: "assistant", content: null, tool_calls: [call("now", {})] },
    { role: "tool", content: "12:00" },
  ],
  reasoning: [
    { role: "user", content: "Think first." },
    { role: "assistant", content: "<think>\nhmm, let me see\n</think>\n\nThe answer is 42." },
    { role: "user", content: "And again?" },
    { role: "assistant", content: "Still </think> 42 </think> twice" },
  ],
  unicode: [
    { role: "system", content: "Réponds en français. 日本語も OK 👍🏽" },
    { role: "user", content: "Quotes ' \" and backslash \\ and {{ braces }} {% not a tag %}\n\ttab\r\nCRLF" },
    { role: "assistant", content: "" },
    { role: "user", content: "<｜User｜> literal special token text" },
  ],
  empty: [],
};

const templates = {};
for (const f of fs.readdirSync(path.join(__dirname, "templates")).filter((f) => f.endsWith(".jinja")).sort())
  templates[f.replace(".jinja", "")] = fs.readFileSync(path.join(__dirname, "templates", f), "utf8");

const cases = [];
for (const [tname, template] of Object.entries(templates)) {
  for (const [cname, messages] of Object.entries(conversations)) {
    for (const agp of [false, true]) {
      cases.push({ name: `${tname}/${cname}/agp=${agp}`, template, messages, add_generation_prompt: agp, bos_token: BOS, eos_token: EOS });
      if (tname === "deepseek_v3_1")
        cases.push({ name: `${tname}/${cname}/agp=${agp}/thinking`, template, messages, add_generation_prompt: agp, bos_token: BOS, eos_token: EOS, vars: { thinking: true } });
    }
  }
}
cases.push({ name: "deepseek_v3_1/prefix", template: templates.deepseek_v3_1, messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Partial", prefix: true }], vars: { thinking: true }, bos_token: BOS, eos_token: EOS });

// Generic templates: [name, template, variables].
const msgs = conversations.simple;
const tools = [{ type: "function", function: { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer", default: 3 } }, required: ["city"] } } }];
const generic = [
  ["for_loop_vars", "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.length }} {{ loop.first }} {{ loop.last }} {{ loop.previtem.role if loop.previtem is defined else '-' }} {{ m.role }}\n{% endfor %}"],
  ["if_elif_else", "{% for m in messages %}{% if m.role == 'system' %}S{% elif m.role == 'user' %}U{% else %}A{% endif %}{% endfor %}"],
  ["whitespace_control", "  {%- for m in messages -%}\n   [{{- m.role -}}]   \n{%- endfor %}\n  {# comment #}\n    {{ 'x' }}  {{- ' y ' -}}  z\n{% if true %}\n  yes\n{% endif %}\n"],
  ["lstrip_trim_blocks", "<start>\n    {% for i in range(3) %}\n    item {{ i }}\n    {% endfor %}\n<end>\n"],
  ["namespace", "{% set ns = namespace(count=0, names='') %}{% for m in messages %}{% set ns.count = ns.count + 1 %}{% set ns.names = ns.names ~ m.role ~ ',' %}{% endfor %}{{ ns.count }} {{ ns.names }} {{ ns }}"],
  ["set_scoping", "{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}{% if true %}{% set y = 5 %}{% endif %}|{{ y }}"],
  ["set_block", "{% set block %}Hello {{ messages[1].content }}!{% endset %}[{{ block }}]{% set a, b = [1, 2] %}{{ a + b }}"],
  ["macros", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', 'Hi') }} {{ greet('Cy', punct='?') }} {{ greet(name='Di', greeting='Yo') }}"],
  ["macro_varargs_kwargs", "{% macro f(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ f(1, 2, 3, x=4) }}"],
  ["call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ messages|length }}{% endcall %}"],
  ["filters_strings", "{{ '  Hello World  '|trim }}|{{ 'abc'|upper }}|{{ 'ABC'|lower }}|{{ 'hello big world'|title }}|{{ 'hello World'|capitalize }}|{{ 'a-b-c'|replace('-', '+') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'xyz'|length }}|{{ 'line1\\nline2\\n\\nline4'|indent(2) }}|{{ 'x\\ny'|indent(3, true) }}|{{ 'abc'|join('-') }}"],
  ["filters_lists", "{{ [3,1,2]|sort }}|{{ [3,1,2]|sort(reverse=true) }}|{{ ['b','A','c']|sort }}|{{ [1,2,2,3,1]|unique }}|{{ [1,2,3]|reverse }}|{{ [1,2,3]|first }}|{{ [1,2,3]|last }}|{{ [1,2,3]|length }}|{{ ['a','b']|join(', ') }}|{{ [1,'a']|join }}|{{ [1,2]|string }}|{{ messages|map(attribute='role')|join(',') }}|{{ messages|selectattr('role', 'equalto', 'user')|list|length }}|{{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join('+') }}"],
  ["filters_numbers", "{{ -3|abs }}|{{ (0-3)|abs }}|{{ 3.7|int }}|{{ '42'|int }}|{{ 'x'|int }}|{{ 'x'|int(7) }}|{{ '2.5'|float }}|{{ 3|float }}|{{ 7|string }}|{{ true|int }}|{{ true|string }}"],
  ["filters_dicts", "{% set d = {'b': 2, 'a': 1, 'c': {'x': [1, 2]}} %}{{ d|length }}|{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}|{% for k, v in d.items() %}{{ k }};{% endfor %}|{{ d.keys()|join(',') }}|{{ d.values()|length }}|{% for k, v in d|dictsort %}{{ k }}{% endfor %}|{{ d.get('a') }}{{ d.get('zz', 'dflt') }}{{ d.get('zz') }}|{% for k in d %}{{ k }}{% endfor %}"],
  ["tojson", "{{ tools|tojson }}\n{{ tools|tojson(indent=2) }}\n{{ {'z': 1, 'a': [true, none, 1.5, 'é\"\\\\']}|tojson(sort_keys=true) }}\n{{ 'héllo 😀'|tojson(ensure_ascii=true) }}\n{{ {'a': 1}|tojson(separators=(',', ':')) }}\n{{ messages[0]|tojson }}"],
  ["default_filter", "{{ undefined_var|default('dflt') }}|{{ ''|default('empty', true) }}|{{ ''|default('empty') }}|{{ none|default('n', boolean=true) }}|{{ messages[0].missing|default(0) }}"],
  ["tests", "{% for v in [1, 2.5, 'x', none, true, [1], {'a': 1}] %}{{ v is number }}{{ v is integer }}{{ v is string }}{{ v is none }}{{ v is boolean }}{{ v is iterable }}{{ v is mapping }}{{ v is sequence }}{{ v is defined }};{% endfor %}{{ nope is defined }}{{ nope is undefined }}{{ 3 is odd }}{{ 4 is even }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ true is true }}{{ false is false }}{{ messages is not none }}"],
  ["string_methods", "{% set s = '  Mixed Case, words  ' %}{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.upper() }}|{{ s.lower() }}|{{ s.title() }}|{{ s.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a b  c'.split(none, 1) }}|{{ s.startswith('  Mix') }}{{ s.endswith(('x', '  ')) }}|{{ 'aXbXc'.replace('X', '-') }}|{{ 'abc'.replace('', '.') }}|{{ s.strip().length }}"],
  ["slicing", "{{ 'abcdef'[1:4] }}|{{ 'abcdef'[::-1] }}|{{ 'abcdef'[-2:] }}|{{ [1,2,3,4,5][::2] }}|{{ [1,2,3,4,5][-3:-1] }}|{{ messages[1:]|length }}|{{ messages[-1].content }}|{{ 'héllo'[1] }}|{{ [1,2,3][5] }}|{{ 'abc'[::-2] }}"],
  ["operators", "{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 7 / 2 }}|{{ 6 / 2 }}|{{ 1 / 3 }}|{{ 0.1 + 0.2 }}|{{ 1.5 * 2 }}|{{ 'a' ~ 1 ~ 2.0 ~ true }}|{{ 'a' + 'b' }}|{{ 'n' + 1 }}|{{ [1] + [2] }}|{{ 1 == 1.0 }}{{ 1 == true }}{{ 'a' != 'b' }}{{ 2 < 3 }}{{ 3 <= 2 }}|{{ 'b' in 'abc' }}{{ 'z' not in 'abc' }}{{ 2 in [1,2] }}{{ 'role' in messages[0] }}{{ 'x' in messages[0] }}|{{ not true }}{{ true and 0 }}{{ 0 or 'x' }}{{ none or [] }}|{{ -(3) }}{{ +4 }}|{{ 1 if false else 'ternary' }}|{{ 'yes' if messages else 'no' }}"],
  ["select_loop", "{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }} {% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}"],
  ["break_continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}|{{ range(2, 10, 3)|list }}|{{ range(5, 0, -2)|list }}"],
  ["filter_block", "{% filter upper %}shout {{ messages[1].content }}{% endfilter %}|{% filter replace('a', 'o') %}banana{% endfilter %}"],
  ["printing_values", "{{ none }}|{{ undefined_thing }}|{{ true }}|{{ false }}|{{ 3.0 }}|{{ 2.50 }}|{{ -0.0 }}|{{ 10000000000000000000000.0 }}|{{ 0.000001 }}|{{ 0.0000001 }}|{{ [1, 'two', none, true, 1.5] }}|{{ {'k': 'v', 'n': none} }}|{{ messages[0] }}|{{ 'a' 'b' }}|{{ \"dq\\t'\" }}|{{ '\\u00e9\\x41' }}"],
  ["tools_template", "{% if tools %}{% for t in tools %}{{ t.function.name }}: {{ t.function.description }}\n{% for name, p in t.function.parameters.properties|items %}- {{ name }} ({{ p.type }}){% if name in t.function.parameters.required %} required{% endif %}{% if p.default is defined %} = {{ p.default }}{% endif %}\n{% endfor %}{% endfor %}{% endif %}"],
  ["raise_exception", "{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('tools not supported') }}{% endif %}{{ m.role }}{% endfor %}"],
  ["alternation_check", "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ m.content }}{% endfor %}"],
  ["generation_tags", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}\n{% endfor %}"],
  ["bad_operator", "{{ 'a' - 1 }}"],
  ["undefined_arith", "{{ nope + 1 }}"],
  ["mistral_style_tools", "{%- for tool in tools %}{%- set tool = tool.function %}{{- '{\"type\": \"function\", \"function\": {' }}{%- for key, val in tool.items() if key != 'return' %}{%- if val is string %}{{- '\"' + key + '\": \"' + val + '\"' }}{%- else %}{{- '\"' + key + '\": ' + val|tojson }}{%- endif %}{%- if not loop.last %}{{- ', ' }}{%- endif %}{%- endfor %}{{- '}}' }}{%- endfor %}|{%- for m in messages %}{%- if m.tool_calls is defined and m.tool_calls is not none %}{%- for tc in m.tool_calls %}{%- set out = tc.function|tojson %}{{- out[:-1] }}{{- ', \"id\": \"' + tc.id + '\"}' }}{%- endfor %}{%- elif m.content is mapping or m.content is iterable %}{{ m.content|string }}{%- endif %}{%- endfor %}"],
  ["llama_style_system", "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}{{- bos_token }}[{{ system_message }}]{%- for message in messages %}{{- '<|' + message['role'] + '|>\n\n' + message['content']|trim + '<|eot|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|assistant|>\n\n' }}{%- endif %}"],
  ["member_chain", "{{ messages[0]['role'] }}{{ messages.0.role }}{{ messages[0].nothing.deeper }}{{ (messages|first).content|length }}"],
];
const genericVars = [
  { messages: msgs, tools },
  { messages: conversations.tool_calls, tools },
  { messages: conversations.unicode },
  { messages: conversations.no_system },
];
for (const [name, template] of generic)
  for (let i = 0; i < genericVars.length; i++)
    cases.push({ name: `generic/${name}/${i}`, template, ...genericVars[i], bos_token: BOS, eos_token: EOS });

function reference(c) {
  try {
    const vars = { messages: c.messages, add_generation_prompt: !!c.add_generation_prompt, bos_token: c.bos_token, eos_token: c.eos_token };
    if (c.tools !== undefined) vars.tools = c.tools;
    Object.assign(vars, c.vars || {});
    return { text: new Template(c.template).render(vars) };
  } catch (e) {
    return { error: String(e.message || e) };
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fathom-chat-"));
const file = path.join(tmp, "cases.jsonl");
fs.writeFileSync(file, cases.map(({ name, ...c }) => JSON.stringify(c)).join("\n") + "\n");
const out = execFileSync(fathom, ["chat-template", "--jsonl", file], { maxBuffer: 1 << 28 }).toString().trim().split("\n");
fs.rmSync(tmp, { recursive: true, force: true });

let failures = 0, errors = 0;
for (let i = 0; i < cases.length; i++) {
  const want = reference(cases[i]);
  const got = JSON.parse(out[i]);
  if (want.error !== undefined) { errors++; if (process.env.VERBOSE) console.log(`expected error: ${cases[i].name}: ${want.error} / fathom: ${got.error}`); }
  const ok = want.error !== undefined ? got.error !== undefined : got.text === want.text;
  if (!ok) {
    failures++;
    console.log(`FAIL ${cases[i].name}\n  reference: ${JSON.stringify(want).slice(0, 600)}\n  fathom:    ${JSON.stringify(got).slice(0, 600)}`);
  }
}
console.log(`chat template conformance: ${cases.length} renderings (${errors} expected errors), ${failures} differ`);
console.log(`${failures === 0 ? 1 : 0} passed, ${failures === 0 ? 0 : 1} failed`);
process.exit(failures === 0 ? 0 : 1);
