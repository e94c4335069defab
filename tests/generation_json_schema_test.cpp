// Constrained decoding under a JSON schema (src/generation/json_schema*): the subset's errors name
// their keyword; the byte-level matcher accepts exactly the valid prefixes (ranges, patterns, UTF-8
// split anywhere, escapes, property order, enums, anyOf); the token mask equals the brute-force
// check of every token, and random walks under it never reach a dead end and always end in JSON
// that parses. Validation of random schemas' outputs by an independent validator (ajv) is
// tests/structured/random_schemas.mjs.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "generation/json_schema.h"
#include "generation/json_schema_constraint.h"
#include "generation/json_schema_matcher.h"
#include "generation/json_schema_number.h"

namespace fathom::gen {
namespace {

using nlohmann::json;

std::string compile_error(const std::string& schema) {
  try {
    compile_json_schema(json::parse(schema));
  } catch (const Error& e) {
    return e.what();
  }
  return "(compiled)";
}

TEST(JsonSchema, OutsideTheSubsetIsAnErrorNamingTheKeywordAndItsPlace) {
  EXPECT_EQ(compile_error(R"({"type": "string", "minLength": 3})"), "json schema: 'minLength' is not supported");
  EXPECT_EQ(compile_error(R"({"properties": {"a": {"oneOf": [{"type": "null"}]}}})"),
            "json schema: properties.a: 'oneOf' is not supported");
  EXPECT_EQ(compile_error(R"({"type": "array", "items": {"$ref": "#/x"}})"), "json schema: items: '$ref' is not supported");
  EXPECT_NE(compile_error(R"({"type": "string", "pattern": "(?=a)b"})").find("'pattern' \"(?=a)b\" has a lookaround"),
            std::string::npos);
  EXPECT_NE(compile_error(R"({"type": "string", "pattern": "\\bx"})").find("the escape \\b"), std::string::npos);
  EXPECT_NE(compile_error(R"({"type": "object", "additionalProperties": {"type": "string"}})").find("'additionalProperties'"),
            std::string::npos);
  EXPECT_NE(compile_error(R"({"type": "integer", "minimum": 1.5})").find("whole number"), std::string::npos);
  EXPECT_NE(compile_error(R"({"type": "integer", "minimum": 5, "maximum": 4})").find("range is empty"), std::string::npos);
  EXPECT_NE(compile_error(R"({"required": ["x"], "properties": {}})").find("'x'"), std::string::npos);
  EXPECT_NE(compile_error(R"({"type": "widget"})").find("unknown type 'widget'"), std::string::npos);
  EXPECT_NE(compile_error(R"({"anyOf": [{"type": "null"}], "type": "string"})").find("'type' beside 'anyOf'"),
            std::string::npos);
  EXPECT_EQ(compile_error(R"({"title": "t", "description": "d", "type": "string"})"), "(compiled)");
  // Bounded, so a hostile schema cannot make every step slow.
  EXPECT_NE(compile_error(json{{"enum", std::vector<int>(kMaxEnumValues + 1, 0)}}.dump()).find("more than 1000 values"),
            std::string::npos);
  json wide = json::object();
  for (size_t i = 0; i <= kMaxSchemaNodes; ++i) wide[fmt::format("p{}", i)] = json{{"type", "string"}};
  EXPECT_NE(compile_error(json{{"properties", wide}}.dump()).find("more than 10000 subschemas"), std::string::npos);
  EXPECT_NE(compile_error(R"({"type": "string", "pattern": "((a{1000}){1000}){1000}"})").find("too large"),
            std::string::npos);
}

// Feeds `text`; returns the number of bytes accepted before the first that fails, and whether the
// whole text is a complete document.
struct Fed {
  size_t accepted;
  bool complete;
};
Fed feed(const std::string& schema, const std::string& text) {
  const CompiledSchema cs = schema.empty() ? json_object_schema() : compile_json_schema(json::parse(schema));
  JsonSchemaMatcher m(cs);
  auto st = m.start();
  for (size_t i = 0; i < text.size(); ++i)
    if (!m.advance(st, uint8_t(text[i]))) return {i, false};
  return {text.size(), m.is_complete(st)};
}

void expect_valid(const std::string& schema, const std::string& text) {
  const Fed f = feed(schema, text);
  EXPECT_EQ(f.accepted, text.size()) << schema << " stopped in " << text << " at byte " << f.accepted;
  EXPECT_TRUE(f.complete) << schema << " does not take " << text << " as complete";
}
// `text` fails at byte `at` (0-based), every byte before it being a valid prefix.
void expect_fails_at(const std::string& schema, const std::string& text, size_t at) {
  EXPECT_EQ(feed(schema, text).accepted, at) << schema << ": " << text;
}

TEST(JsonSchemaMatcher, IntegerRangesDecideEachDigit) {
  const std::string s = R"({"type": "integer", "minimum": 3, "maximum": 12})";
  for (const char* ok : {"3", "7", "10", "12", " 12 "}) expect_valid(s, ok);
  expect_fails_at(s, "13", 1);   // "1" may become 10..12; "13" cannot
  expect_fails_at(s, "2", 0);    // 2 is too small and 20.. too large
  expect_fails_at(s, "-1", 0);
  expect_fails_at(s, "1.5", 1);  // an integer has no fraction
  expect_fails_at(s, "0", 0);    // 0, and 0.x, are below 3
  expect_fails_at(R"({"type": "integer", "minimum": 0})", "01", 1);  // no leading zero
  EXPECT_FALSE(feed(s, "1").complete);
  const std::string neg = R"({"type": "integer", "exclusiveMinimum": -20, "exclusiveMaximum": -5})";
  for (const char* ok : {"-19", "-6", "-10"}) expect_valid(neg, ok);
  expect_fails_at(neg, "-20", 1);  // -2 is too large, and -2x too small
  expect_fails_at(neg, "-5", 1);
  expect_fails_at(neg, "-3", 1);
  EXPECT_EQ(feed(neg, "-1").accepted, 2u);  // -1 is too large, but -1x (-10..-19) is in
  EXPECT_FALSE(feed(neg, "-1").complete);
}

TEST(JsonSchemaMatcher, NumberRangesAreExactOnTheDecimalText) {
  const std::string s = R"({"type": "number", "exclusiveMinimum": 0, "maximum": 1.5})";
  for (const char* ok : {"0.5", "1", "1.5", "1.25", "0.001"}) expect_valid(s, ok);
  EXPECT_FALSE(feed(s, "0").complete);      // 0 is excluded...
  EXPECT_EQ(feed(s, "0.0").accepted, 3u);   // ...but 0.0x is not
  expect_fails_at(s, "1.6", 2);
  expect_fails_at(s, "1.51", 3);
  expect_fails_at(s, "2", 0);
  expect_fails_at(s, "1e0", 1);  // no exponent under a range
  const std::string tenth = R"({"type": "number", "minimum": 0.1, "maximum": 0.1})";
  expect_valid(tenth, "0.1");
  expect_valid(tenth, "0.10");
  expect_fails_at(tenth, "0.11", 3);
  expect_valid(R"({"type": "number"})", "-1.5e+30");
  // Any number stays a finite double: at most kMaxNumberBytes long, exponents of two digits.
  expect_fails_at(R"({"type": "number"})", "1e999", 4);
  expect_fails_at(R"({"type": "number"})", std::string(kMaxNumberBytes + 1, '1'), size_t(kMaxNumberBytes));
}

TEST(JsonSchemaMatcher, DecimalsCompareExactly) {
  auto d = [](const char* t) { return *Decimal::parse(t); };
  EXPECT_EQ(compare(d("0.1"), d("1e-1")), 0);
  EXPECT_EQ(compare(d("-0"), d("0")), 0);
  EXPECT_LT(compare(d("-2"), d("-1.5")), 0);
  EXPECT_GT(compare(d("100"), d("99.999")), 0);
  EXPECT_EQ(compare(d("1.2e3"), d("1200")), 0);
  EXPECT_FALSE(Decimal::parse("1e"));
  EXPECT_FALSE(Decimal::parse("1e999"));
}

TEST(JsonSchemaMatcher, PatternsSeeDecodedCharactersAndPartialOnes) {
  const std::string mail = R"({"type": "string", "pattern": "^[a-z]+@[a-z]+\\.com$"})";
  expect_valid(mail, R"("ab@cd.com")");
  expect_fails_at(mail, R"("AB@)", 1);
  expect_fails_at(mail, R"("ab@cd.co")", 9);
  expect_valid(mail, R"("a\u0062@c\u002ecom")");  // escapes are decoded before the pattern sees them
  // After four digits only the end may come: no escape can start, whatever it would encode.
  expect_fails_at(R"({"type": "string", "pattern": "^\\d{4}$"})", R"("1234\u)", 5);
  expect_fails_at(R"({"type": "string", "pattern": "^[a-z]$"})", R"("\n)", 2);  // \u0061 could still come
  // "é" is C3 A9: its lead byte can only become U+00C0..U+00FF, none of them in [a-z].
  expect_fails_at(R"({"type": "string", "pattern": "^[a-z]*$"})", "\"a\xC3\xA9\"", 2);
  expect_valid(R"({"type": "string", "pattern": "^\\w+é$"})", "\"x\xC3\xA9\"");
  // Unanchored: a match anywhere.
  expect_valid(R"({"type": "string", "pattern": "\\d{3}"})", R"("ab123cd")");
  expect_fails_at(R"({"type": "string", "pattern": "\\d{3}"})", R"("ab12")", 5);
  expect_valid(R"({"type": "string", "pattern": "^(ab|cd)+x?$"})", R"("abcdab")");
  expect_valid(R"({"type": "string", "pattern": "^(ab|cd)+x?$"})", R"("abx")");
  expect_fails_at(R"({"type": "string", "pattern": "^(ab|cd)+x?$"})", R"("abxa")", 4);
  expect_fails_at(R"({"type": "string", "pattern": "^(ab|cd)+x?$"})", R"("ac")", 2);
}

TEST(JsonSchemaMatcher, Utf8IsCheckedByteByByte) {
  const std::string s = R"({"type": "string"})";
  expect_valid(s, "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"");  // é € 😀
  expect_fails_at(s, "\"\xC0\x80\"", 1);          // overlong
  expect_fails_at(s, "\"\xE0\x80\x80\"", 2);      // overlong 3-byte form
  expect_fails_at(s, "\"\xED\xA0\x80\"", 2);      // a surrogate
  expect_fails_at(s, "\"\xF4\x90\x80\x80\"", 2);  // beyond U+10FFFF
  expect_fails_at(s, "\"\xA9\"", 1);              // a lone continuation byte
  expect_fails_at(s, "\"a\nb\"", 2);              // a raw control character
  expect_valid(s, R"("\u00e9\n\"\\\/")");
  expect_fails_at(s, R"("\uD83D\uDE00")", 4);     // surrogate escapes: "\uD8" can only be one
  expect_fails_at(s, R"("\x")", 2);
}

TEST(JsonSchemaMatcher, ObjectsTakePropertiesInOrderAndNeedTheRequiredOnes) {
  const std::string s = R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"},
                             "c": {"type": "boolean"}}, "required": ["a", "c"], "additionalProperties": false})";
  expect_valid(s, R"({"a":1,"c":true})");
  expect_valid(s, R"({ "a": 1, "b": "x", "c": false })");
  expect_fails_at(s, R"({"c":true})", 2);    // a is required first
  expect_fails_at(s, R"({"a":1})", 6);       // c is still missing
  expect_fails_at(s, R"({"a":1,"a":2})", 8);  // no property twice
  expect_fails_at(s, R"({"a":1,"d":2})", 8);
  expect_valid(R"({"type": "object"})", R"({"x": [1, {"y": null}], "z": "w"})");
  expect_valid(R"({"type": "object", "additionalProperties": false})", "{}");
  expect_fails_at(R"({"type": "object", "additionalProperties": false})", R"({")", 1);
}

TEST(JsonSchemaMatcher, EnumsAnyOfArraysAndWhitespace) {
  const std::string e = R"({"enum": ["red", "green", 1, 12, null, {"k": [true]}]})";
  for (const char* ok : {R"("red")", "1", "12", "null", R"({"k":[true]})"}) expect_valid(e, ok);
  expect_fails_at(e, R"("blue")", 1);
  expect_fails_at(e, "13", 1);
  const std::string any = R"({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 5}]})";
  expect_valid(any, R"("x")");
  expect_valid(any, "7");
  expect_valid(any, "42");  // "4" may still become 40..49
  expect_fails_at(any, "-", 0);
  const std::string arr = R"({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3})";
  expect_valid(arr, "[1,2]");
  expect_valid(arr, "[1, 2, 3]");
  expect_fails_at(arr, "[1]", 2);
  expect_fails_at(arr, "[1,2,3,", 6);
  expect_fails_at(arr, "[1,]", 3);
  expect_valid(R"({"type": ["string", "null"]})", "null");
  expect_valid(R"({"const": "x"})", R"("x")");
  expect_fails_at(R"({"type": "null"})", std::string(kMaxWhitespace + 1, ' '), size_t(kMaxWhitespace));
  expect_valid("", R"({"a": {"b": [1, 2.5e-3, "c", false]}})");  // json_object
  expect_fails_at("", "[1]", 0);
}

// A vocabulary with single bytes, JSON pieces and tokens that split UTF-8 characters and escapes.
std::shared_ptr<TokenVocabulary> test_vocabulary() {
  std::vector<std::string> v{"<eos>"};
  for (int b = 0x20; b < 0x7F; ++b) v.push_back(std::string(1, char(b)));
  for (const char* t : {"{\"", "\":", "\",\"", "\"}", "true", "false", "null", "12", "3.", "-0", "\\u00", "e9", "\\n",
                        "\xC3", "\xA9", "\xC3\xA9", "\xA9\"", "\xE2\x82", "\xAC", "ab", "red", "\"red\"", "]}", "[1,",
                        "\"a\":", "\n  ", "    "})
    v.push_back(t);
  return std::make_shared<TokenVocabulary>(std::move(v), 0);
}

const char* kSchemas[] = {
    R"({"type": "object", "properties": {"a": {"type": "integer", "minimum": -3, "maximum": 120},
        "b": {"type": "string", "pattern": "^[a-zé]{1,4}$"}, "c": {"enum": ["red", 12, null]},
        "d": {"type": "array", "items": {"type": "number", "exclusiveMaximum": 3.5}, "maxItems": 3}},
        "required": ["a", "c"]})",
    R"({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "boolean"}, "minItems": 1}]})",
    R"({"type": "object"})",
};

TEST(JsonSchemaConstraint, MaskEqualsTheBruteForceCheckOfEveryToken) {
  auto vocab = test_vocabulary();
  std::mt19937 rng(1);
  for (const char* schema : kSchemas) {
    JsonSchemaConstraint c(compile_json_schema(json::parse(schema)), vocab);
    const CompiledSchema compiled = compile_json_schema(json::parse(schema));
    JsonSchemaMatcher m(compiled);
    for (int walk = 0; walk < 20; ++walk) {
      auto st = c.start();
      for (int step = 0; step < 40; ++step) {
        const auto mask = c.allowed(st);
        std::vector<int32_t> allowed;
        for (int32_t t = 0; t < int32_t(vocab->size()); ++t) {
          auto probe = st;
          const bool ok = t == vocab->eos ? m.is_complete(st) : m.advance(probe, vocab->bytes[size_t(t)]);
          ASSERT_EQ(ok, bool(mask[size_t(t) / 64] >> (t % 64) & 1)) << schema << " token " << t << " step " << step;
          if (ok) allowed.push_back(t);
        }
        ASSERT_FALSE(allowed.empty()) << "dead end: " << schema;
        const int32_t t = allowed[rng() % allowed.size()];
        if (t == vocab->eos) break;
        ASSERT_TRUE(c.advance(st, t));
      }
    }
    EXPECT_GT(c.cache_hits(), 0u);
  }
}

// Random walks: any allowed token, then closing tokens once long enough; each ends in EOS with text
// that parses as JSON.
TEST(JsonSchemaConstraint, RandomWalksEndInJsonThatParses) {
  auto vocab = test_vocabulary();
  std::mt19937 rng(7);
  for (const char* schema : kSchemas) {
    JsonSchemaConstraint c(compile_json_schema(json::parse(schema)), vocab);
    for (int walk = 0; walk < 50; ++walk) {
      auto st = c.start();
      std::string out;
      for (int step = 0;; ++step) {
        ASSERT_LT(step, 2000) << schema << ": no end after " << out;
        const auto& mask = c.allowed(st);
        std::vector<int32_t> allowed, closing;
        for (int32_t t = 0; t < int32_t(vocab->size()); ++t)
          if (mask[size_t(t) / 64] >> (t % 64) & 1) {
            allowed.push_back(t);
            if (t == vocab->eos || vocab->bytes[size_t(t)].find_first_of("\"]}") != std::string::npos)
              closing.push_back(t);
          }
        ASSERT_FALSE(allowed.empty()) << "dead end after " << out;
        const auto& pool = step > 20 && !closing.empty() ? closing : allowed;
        const int32_t t = pool[rng() % pool.size()];
        if (t == vocab->eos) break;
        out += vocab->bytes[size_t(t)];
        ASSERT_TRUE(c.advance(st, t));
      }
      EXPECT_TRUE(json::accept(out)) << out;
    }
  }
}

}  // namespace
}  // namespace fathom::gen
