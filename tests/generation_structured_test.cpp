// Structured outputs through the one engine (generation/engine.h): a request's JSON schema masks the
// logits before every sampled token. On a synthesized tiny-v3 (random weights, so the model itself
// knows nothing of JSON) every output sampled under several schemas and seeds parses and satisfies
// its schema, checked here by hand-written predicates and std::regex rather than by fathom's
// matcher; it ends with EOS (allowed only once the document is whole, even when logit_bias pushes
// EOS); and under MTP such a request speculates with the mask inside the round, greedy giving the
// same tokens as without.
// The server side: tests/server/structured.mjs; the random-schema test against ajv:
// tests/structured/random_schemas.mjs.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/error.h"
#include "generation/generator.h"
#include "generation/json_schema.h"
#include "model/model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace fathom {
namespace {

using json = nlohmann::json;

struct Fixture {
  const std::string dir = test::synth_model_with_tokenizer("tiny-v3", SynthDType::F32);
  std::unique_ptr<Model> model = Model::load(dir);
  Tokenizer tok = Tokenizer::load(dir);
  Runtime runtime{1};
};
Fixture& fx() {
  static Fixture f;
  return f;
}

struct Case {
  const char* schema;
  std::function<bool(const json&)> valid;  // the schema's meaning, written out independently
};

bool matches(const json& v, const char* re) { return v.is_string() && std::regex_match(v.get<std::string>(), std::regex(re)); }
bool only_keys(const json& v, std::initializer_list<const char*> keys) {
  for (auto& [k, x] : v.items())
    if (std::none_of(keys.begin(), keys.end(), [&](const char* a) { return k == a; })) return false;
  return true;
}

const std::vector<Case> kCases = {
    {R"({"type": "object", "properties": {"name": {"type": "string", "pattern": "^[a-z]{1,8}$"},
        "age": {"type": "integer", "minimum": 0, "maximum": 120}, "ok": {"type": "boolean"}},
        "required": ["name", "age"], "additionalProperties": false})",
     [](const json& v) {
       return v.is_object() && only_keys(v, {"name", "age", "ok"}) && matches(v.value("name", json()), "[a-z]{1,8}") &&
              v.contains("age") && v["age"].is_number_integer() && v["age"] >= 0 && v["age"] <= 120 &&
              (!v.contains("ok") || v["ok"].is_boolean());
     }},
    {R"({"type": "array", "items": {"enum": ["red", "green", 3, null]}, "minItems": 1, "maxItems": 4})",
     [](const json& v) {
       if (!v.is_array() || v.empty() || v.size() > 4) return false;
       for (const json& x : v)
         if (x != "red" && x != "green" && x != 3 && !x.is_null()) return false;
       return true;
     }},
    {R"({"anyOf": [{"type": "number", "minimum": -5, "exclusiveMaximum": 5}, {"const": "none"}]})",
     [](const json& v) { return (v.is_number() && v.get<double>() >= -5 && v.get<double>() < 5) || v == "none"; }},
    {R"({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string", "pattern": "^#[0-9]{2}$"},
        "maxItems": 3}, "n": {"type": "number", "minimum": 0.5, "maximum": 2.5}}, "required": ["tags"]})",
     [](const json& v) {
       if (!v.is_object() || !only_keys(v, {"tags", "n"}) || !v.contains("tags") || !v["tags"].is_array()) return false;
       if (v["tags"].size() > 3) return false;
       for (const json& t : v["tags"])
         if (!matches(t, "#[0-9]{2}")) return false;
       return !v.contains("n") || (v["n"].is_number() && v["n"] >= 0.5 && v["n"] <= 2.5);
     }},
};

GenerationRequest request(const Tokenizer& tok, std::shared_ptr<const gen::CompiledSchema> schema, uint64_t seed) {
  GenerationRequest r;
  r.prompt = tok.encode("Answer in JSON:", true);
  r.max_tokens = 2000;  // far beyond any document here: every one must end with EOS
  r.sampling.temperature = 1.0f;
  r.sampling.top_k = 0;
  r.sampling.top_p = 1.0f;
  r.sampling.min_p = 0.0f;
  r.sampling.seed = seed;
  r.json_schema = std::move(schema);
  return r;
}

TEST(GenerationStructured, SampledOutputsValidateAndEndWithEos) {
  Fixture& f = fx();
  Generator gen(*f.model, f.tok, 2100, f.runtime.exec());
  for (const Case& c : kCases) {
    auto schema = std::make_shared<const gen::CompiledSchema>(gen::compile_json_schema(json::parse(c.schema)));
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      SCOPED_TRACE(std::string(c.schema) + " seed " + std::to_string(seed));
      GenerationRequest r = request(f.tok, schema, seed);
      // EOS pushed as hard as the API allows: still masked until the document is whole.
      if (seed % 2 == 0) r.logit_bias = {{f.tok.eos_id(), 100.0f}};
      const GenerationResult out = gen.generate(r);
      EXPECT_EQ(out.finish, FinishReason::Eos);
      json v;
      ASSERT_NO_THROW(v = json::parse(out.text)) << out.text;
      EXPECT_TRUE(c.valid(v)) << out.text;
    }
  }
}

// A value between fixed byte strings (how a required tool call is framed by the server).
TEST(GenerationStructured, WrappedValue) {
  Fixture& f = fx();
  Generator gen(*f.model, f.tok, 1024, f.runtime.exec());
  auto schema = std::make_shared<const gen::CompiledSchema>(gen::compile_wrapped_schemas(
      {{"<call>", nlohmann::ordered_json::parse(R"({"type": "object", "properties": {"x": {"type": "integer",
          "minimum": 1, "maximum": 9}}, "required": ["x"], "additionalProperties": false})"), "</call>", "t"}}));
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const GenerationResult out = gen.generate(request(f.tok, schema, seed));
    EXPECT_EQ(out.finish, FinishReason::Eos);
    std::string text = out.text;
    text.erase(0, text.find_first_not_of(" \t\r\n"));
    ASSERT_EQ(text.rfind("<call>", 0), 0u) << text;
    const size_t end = text.rfind("</call>");
    ASSERT_NE(end, std::string::npos) << text;
    const json v = json::parse(text.substr(6, end - 6));
    EXPECT_TRUE(v.is_object() && v.size() == 1 && v["x"].is_number_integer() && v["x"] >= 1 && v["x"] <= 9) << text;
  }
}

// Under MTP a schema request speculates with its mask inside the round (drafts and targets masked
// alike): greedy gives exactly the tokens of greedy without MTP, and sampled outputs stay valid.
TEST(GenerationStructured, SpeculatesUnderTheMaskWithTheSameGreedyTokens) {
  Fixture& f = fx();
  Generator plain(*f.model, f.tok, 2100, f.runtime.exec());
  Generator mtp(*f.model, f.tok, 2100, f.runtime.exec(), CacheType::F32, 2);
  int64_t drafted = 0;
  for (const Case& c : kCases) {
    auto schema = std::make_shared<const gen::CompiledSchema>(gen::compile_json_schema(json::parse(c.schema)));
    SCOPED_TRACE(c.schema);
    GenerationRequest greedy = request(f.tok, schema, 1);
    greedy.sampling.temperature = 0;
    greedy.max_tokens = 200;
    const GenerationResult want = plain.generate(greedy);
    const GenerationResult got = mtp.generate(greedy);
    EXPECT_EQ(got.tokens, want.tokens);
    drafted += got.stats.drafted_tokens;
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      const GenerationResult out = mtp.generate(request(f.tok, schema, seed));
      drafted += out.stats.drafted_tokens;
      EXPECT_EQ(out.finish, FinishReason::Eos) << out.text;
      const json v = json::parse(out.text, nullptr, false);
      EXPECT_FALSE(v.is_discarded()) << out.text;
      EXPECT_TRUE(c.valid(v)) << out.text;
    }
  }
  EXPECT_GT(drafted, 0);  // the rounds did draft under the masks
}

// Logprobs are of the masked distribution: the alternatives are tokens the schema allows.
TEST(GenerationStructured, LogprobsListOnlyAllowedTokens) {
  Fixture& f = fx();
  Generator gen(*f.model, f.tok, 256, f.runtime.exec());
  GenerationRequest r = request(f.tok, std::make_shared<const gen::CompiledSchema>(gen::compile_json_schema(
                                           json::parse(R"({"enum": [true, false]})"))), 1);
  r.top_logprobs = 20;
  const GenerationResult out = gen.generate(r);
  EXPECT_TRUE(out.text.find("true") != std::string::npos || out.text.find("false") != std::string::npos) << out.text;
  ASSERT_FALSE(out.logprobs.empty());
  for (const TokenLogprob& lp : out.logprobs) {
    EXPECT_TRUE(std::isfinite(lp.logprob));
    EXPECT_LT(lp.top.size(), 20u);  // far fewer than 20 tokens can continue "true" / "false" / whitespace
    for (auto& [id, p] : lp.top) EXPECT_TRUE(std::isfinite(p)) << id;
  }
}

TEST(GenerationStructured, IgnoreEosIsRefused) {
  Fixture& f = fx();
  Generator gen(*f.model, f.tok, 256, f.runtime.exec());
  GenerationRequest r = request(f.tok, std::make_shared<const gen::CompiledSchema>(gen::json_object_schema()), 1);
  r.ignore_eos = true;
  EXPECT_THROW(gen.generate(r), Error);
}

}  // namespace
}  // namespace fathom
