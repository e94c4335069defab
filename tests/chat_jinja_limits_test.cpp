// The Jinja interpreter's limits (chat/jinja_limits.h): a hostile chat template or hostile template
// data ends in a fathom::Error that names the limit, never a stack overflow, a hang or gigabytes.
// Each case here crashed, hung or ran out of memory before the limits existed.
#include <gtest/gtest.h>

#include <string>

#include "chat/chat_template.h"
#include "chat/jinja.h"
#include "core/error.h"

using namespace fathom::chat;
using nlohmann::ordered_json;

namespace {

std::string error_of(const std::string& tmpl, const RenderLimits& limits = {}) {
  try {
    Template(tmpl).render({}, limits);
  } catch (const fathom::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int k = 0; k < n; ++k) out += s;
  return out;
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

}  // namespace

TEST(JinjaLimits, SelfRecursiveMacro) {
  const std::string e = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_HAS(e, "deeper than 500 levels");
  EXPECT_HAS(e, "chat template 1:");
  // Bounded recursion stays allowed.
  EXPECT_EQ(Template("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}")
                .render({}),
            "54321");
}

TEST(JinjaLimits, DeepNestingIsAParseError) {
  for (const std::string& deep : {"{{ " + repeat("(", 100000) + "1" + repeat(")", 100000) + " }}",
                                  "{{ " + repeat("[", 100000) + repeat("]", 100000) + " }}",
                                  "{{ " + repeat("not ", 100000) + "x }}",
                                  "{{ " + repeat("- ", 100000) + "1 }}",
                                  repeat("{% if true %}", 100000) + repeat("{% endif %}", 100000),
                                  // Left-deep chains build a tall tree without recursing in the parser.
                                  "{{ 1" + repeat(" + 1", 100000) + " }}",
                                  "{{ x" + repeat(".a", 100000) + " }}",
                                  "{{ x" + repeat(" | string", 100000) + " }}"}) {
    const std::string e = error_of(deep);
    EXPECT_HAS(e, "nests deeper than 256 levels");
  }
  EXPECT_EQ(Template("{{ " + repeat("(", 40) + "1" + repeat(")", 40) + " }}").render({}), "1");
}

TEST(JinjaLimits, LoopIterations) {
  RenderLimits l;
  l.max_iterations = 1000;
  EXPECT_HAS(error_of("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", l),
             "more than 1000 iterations");
  EXPECT_EQ(error_of("{% for i in range(10) %}{% for j in range(99) %}{% endfor %}{% endfor %}", l), "(no error)");
  // The default bound stops nested loops that would run for hours.
  EXPECT_HAS(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
             "iterations");
}

TEST(JinjaLimits, RangeSize) {
  EXPECT_HAS(error_of("{{ range(10**12) | length }}"), "range() of more than");
  EXPECT_HAS(error_of("{{ range(-4611686018427387904, 4611686018427387904) | length }}"), "range() of more than");
  EXPECT_EQ(Template("{{ range(10, 0, -3) | join(',') }}").render({}), "10,7,4,1");
  EXPECT_EQ(Template("{{ range(0, 10, 4) | join(',') }}").render({}), "0,4,8");
}

TEST(JinjaLimits, StringAndListGrowth) {
  RenderLimits l;
  l.max_string_bytes = 1 << 16;
  l.max_items = 1 << 12;
  EXPECT_HAS(error_of("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
                      "{% endfor %}{{ ns.s | length }}", l),
             "exceeds the chat template limit of 65536 bytes");
  EXPECT_HAS(error_of("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
                      "{% endfor %}", l),
             "limit of 4096 items");
  // Output that grows by accumulation rather than by one big value.
  EXPECT_HAS(error_of("{% for i in range(2000) %}" + repeat("x", 100) + "{% endfor %}", l), "bytes");
  EXPECT_HAS(error_of("{{ 'a' | indent(10**12, true) }}", l), "bytes");
  EXPECT_HAS(error_of("{% set ns = namespace(s='abcdefgh') %}{% for i in range(12) %}"
                      "{% set ns.s = ns.s | replace('', ns.s) %}{% endfor %}", l),
             "bytes");
  EXPECT_HAS(error_of("{{ {'a': 1} | tojson(indent=100000000) }}"), "indent must be at most");
}

TEST(JinjaLimits, ValuesNestedByALoop) {
  // 100000 lists deep: printing stops at the value-depth limit and releasing it does not recurse.
  EXPECT_HAS(error_of("{% set ns = namespace(x=1) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}"
                      "{% endfor %}{{ ns.x }}"),
             "nests deeper than 256 levels");
  EXPECT_EQ(error_of("{% set ns = namespace(x=1) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}"),
            "(no error)");
  // A namespace that holds itself.
  EXPECT_HAS(error_of("{% set ns = namespace(a=1) %}{% set ns.self = ns %}{{ ns | tojson }}"), "nests deeper than");
}

TEST(JinjaLimits, RenderTime) {
  RenderLimits l;
  l.max_seconds = 0;  // expired from the start: the first clock check fails
  EXPECT_HAS(error_of("{% for i in range(5000) %}{{ i }}{% endfor %}", l), "ran longer than its limit");
}

TEST(JinjaLimits, DeepTemplateDataIsRefused) {
  ordered_json deep = 1;
  for (int k = 0; k < 1000; ++k) deep = ordered_json::array({std::move(deep)});
  EXPECT_THROW(Value::from_json(deep), fathom::Error);
  ChatOptions o;
  o.tools = deep;
  EXPECT_THROW(render_chat("{{ tools }}", ordered_json::array(), o), fathom::Error);
}

// A number literal out of range is the template's error (found by fuzz_jinja: std::stoll threw a raw
// std::out_of_range through the parser).
TEST(JinjaLimits, NumberLiteralOutOfRangeIsAParseError) {
  for (const std::string& t : {std::string("{{ 99999999999999999999999 }}"), "{{ 1" + std::string(400, '0') + ".5 }}"}) {
    try {
      Template tpl(t);
      FAIL() << "parsed: " << t.substr(0, 30);
    } catch (const fathom::Error& e) {
      EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
    }
  }
}
