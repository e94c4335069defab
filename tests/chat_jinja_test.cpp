// The Jinja interpreter without the node reference: features a chat template needs, the
// @huggingface/jinja semantics fathom follows on purpose, and errors with line:column. The
// byte-for-byte comparison with the reference is tests/tokenizer/chat_conformance.js.
#include "test_paths.h"
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "chat/jinja.h"
#include "core/error.h"

using namespace fathom::chat;
using nlohmann::ordered_json;

namespace {

std::string render(const std::string& tmpl, const std::string& vars_json = "{}") {
  std::vector<std::pair<std::string, Value>> vars;
  ordered_json j = ordered_json::parse(vars_json);  // must outlive the items() view
  for (auto& [k, v] : j.items()) vars.emplace_back(k, Value::from_json(v));
  return Template(tmpl).render(vars);
}

std::string error_of(const std::string& tmpl, const std::string& vars_json = "{}") {
  try {
    render(tmpl, vars_json);
  } catch (const fathom::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string read(const std::string& rel) {
  std::ifstream f(std::filesystem::path(FATHOM_SOURCE_DIR) / rel, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST(ChatJinja, StatementsAndLoops) {
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
                   R"({"xs": ["a", "b", "c"]})"), "1a,2b,3c");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}none{% endfor %}"), "none");
  EXPECT_EQ(render("{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}", R"({"d": {"b": 1, "a": 2}})"),
            "b=1;a=2;");
  EXPECT_EQ(render("{% for i in range(6) if i is even %}{{ i }}{% endfor %}"), "024");
  EXPECT_EQ(render("{% for i in range(9) %}{% if i == 1 %}{% continue %}{% elif i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "023");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"), "3");
  EXPECT_EQ(render("{% set x = 1 %}{% for i in range(2) %}{% set x = 5 %}{% endfor %}{{ x }}"), "1");
}

TEST(ChatJinja, MacrosCallAndFilterBlocks) {
  EXPECT_EQ(render("{% macro m(a, b='B') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(2, b='x') }}"), "[1B][2x]");
  EXPECT_EQ(render("{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}in{% endcall %}"), "<in>");
  EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}"), "ABC");
  EXPECT_EQ(render("{% set b %}x{{ 1 + 1 }}{% endset %}{{ b }}"), "x2");
}

TEST(ChatJinja, WhitespaceControlLikeTransformers) {
  // trim_blocks and lstrip_blocks are on, and one trailing newline is dropped.
  EXPECT_EQ(render("a\n  {% if true %}\n  b\n  {% endif %}\nc\n"), "a\n  b\nc");
  EXPECT_EQ(render("a  {{- 'b' -}}  \n c"), "abc");
  EXPECT_EQ(render("a {#- note -#} b"), "ab");
}

TEST(ChatJinja, ValuesPrintLikeHuggingFaceJinja) {
  EXPECT_EQ(render("{{ true }} {{ none }}|{{ 3.0 }} {{ 7 / 2 }} {{ 1 / 3 }} {{ 2 ** 3 }}"),
            "true |3.0 3.5 0.3333333333333333 8");
  EXPECT_EQ(render("{{ x }}", R"({"x": [1, "a", null, {"k": true}]})"), R"([1, "a", null, {"k": true}])");
  EXPECT_EQ(render("{{ x|tojson }}", R"({"x": {"a": [1, 2.5], "é": "\"q\""}})"), R"({"a": [1, 2.5], "é": "\"q\""})");
  EXPECT_EQ(render("{{ x|tojson(indent=2) }}", R"({"x": {"a": [1]}})"), "{\n  \"a\": [\n    1\n  ]\n}");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ true }} {{ 'n' + 2 }}"), "a1true n2");
  EXPECT_EQ(render("{{ x == 1 }}", R"({"x": 1.0})"), "true");
}

TEST(ChatJinja, StringMethodsAndFilters) {
  EXPECT_EQ(render("{{ ' a b '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'x</think>y'.split('</think>')[-1] }}"),
            R"(a b|["a", "b"]|y)");
  EXPECT_EQ(render("{{ 'abc'[::-1] }}{{ 'abc'[1:] }}{{ 'Hello'.startswith('He') }}{{ 'hi there'|title }}"),
            "cbabctrueHi There");
  EXPECT_EQ(render("{{ [3, 1, 2]|sort|join(',') }} {{ x|length }} {{ y|default('d') }}", R"({"x": "héllo"})"), "1,2,3 5 d");
  EXPECT_EQ(render("{{ xs|selectattr('r', 'equalto', 'u')|map(attribute='c')|join }}",
                   R"({"xs": [{"r": "u", "c": "1"}, {"r": "a", "c": "2"}, {"r": "u", "c": "3"}]})"), "13");
}

TEST(ChatJinja, ErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("line one\n{{ x + }}"), "chat template 2:8: unexpected '}}'");
  EXPECT_EQ(error_of("a\n {% for x in y %}\nno end"),
            "chat template 2:2: this block is never closed: expected {% endfor %} or {% else %}");
  EXPECT_EQ(error_of("ab\n  {% if true %}{{ raise_exception('bad role') }}{% endif %}"),
            "chat template 2:19: raise_exception: bad role");
  EXPECT_EQ(error_of("{{ 'a' - 1 }}"), "chat template 1:8: Unknown operator \"-\" between StringValue and IntegerValue");
  EXPECT_EQ(error_of("{% frobnicate %}"), "chat template 1:4: unknown statement 'frobnicate'");
  EXPECT_EQ(error_of("{{ 'unterminated }}"), "chat template 1:4: Unexpected end of input");
}

TEST(ChatTemplate, DeepSeekTemplatesWithToolCalls) {
  auto messages = ordered_json::parse(R"([
    {"role": "user", "content": "Weather?"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "content": "21C"},
    {"role": "assistant", "content": "It is 21C."}])");
  ChatOptions o;
  o.bos_token = "<｜begin▁of▁sentence｜>";
  o.eos_token = "<｜end▁of▁sentence｜>";
  EXPECT_EQ(render_chat(read("tests/tokenizer/templates/deepseek_v3.jinja"), messages, o),
            "<｜begin▁of▁sentence｜><｜User｜>Weather?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>"
            "function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>"
            // The published V3 template closes the calls only after a second call: verbatim.
            "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>21C"
            "<｜tool▁output▁end｜><｜tool▁outputs▁end｜>It is 21C.<｜end▁of▁sentence｜>");
  o.add_generation_prompt = true;
  o.extra = {{"thinking", true}};
  auto q = ordered_json::parse(R"([{"role": "user", "content": "Hi"}])");
  EXPECT_EQ(render_chat(read("tests/tokenizer/templates/deepseek_v3_1.jinja"), q, o),
            "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>");
  EXPECT_EQ(render_chat(read("tests/tokenizer/templates/deepseek_r1.jinja"), q, o),
            "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n");
}
