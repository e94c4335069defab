// The cost of the JSON-schema token mask (src/generation/json_schema_constraint.h) per generated
// token, over a real tokenizer's vocabulary: random walks under a few typical schemas, timing each
// allowed() call (cache hits and misses together, and the misses alone).
//   fathom_json_schema_bench TOKENIZER [TOKENS]
// TOKENIZER is a model directory or a tokenizer.json. scripts/bench-json-schema-mask.sh runs it on
// models/default (4K vocabulary) and DeepSeek-V3's tokenizer (129K).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "core/json.h"
#include "generation/json_schema_constraint.h"
#include "tokenizer/tokenizer.h"

using namespace fathom;

namespace {

const std::pair<const char*, const char*> kSchemas[] = {
    {"tool arguments", R"({"type": "object", "properties": {"city": {"type": "string"},
       "unit": {"enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer", "minimum": 1, "maximum": 14}},
       "required": ["city", "unit"], "additionalProperties": false})"},
    {"records", R"({"type": "array", "items": {"type": "object", "properties": {
       "name": {"type": "string"}, "email": {"type": "string", "pattern": "^[a-z0-9.]+@[a-z0-9]+\\.[a-z]{2,4}$"},
       "age": {"type": "number", "minimum": 0, "maximum": 150}, "tags": {"type": "array", "items": {"type": "string"}}},
       "required": ["name", "age"]}})"},
    {"json_object", R"({"type": "object"})"},
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fathom_json_schema_bench TOKENIZER [TOKENS]\n");
    return 2;
  }
  const int tokens = argc > 2 ? std::atoi(argv[2]) : 2000;
  const auto t_vocab = std::chrono::steady_clock::now();
  auto vocab = std::make_shared<const gen::TokenVocabulary>(gen::TokenVocabulary::from_tokenizer(tok::Tokenizer::load(argv[1])));
  std::printf("vocabulary: %zu tokens (trie and string-safe set built in %.2f s)\n", vocab->size(),
              seconds_since(t_vocab));
  std::printf("%-16s %10s %14s %14s %10s\n", "schema", "tokens", "us/token", "us/miss", "hit rate");
  for (const auto& [name, text] : kSchemas) {
    gen::JsonSchemaConstraint c(gen::compile_json_schema(parse_json(text, name)), vocab);
    std::mt19937 rng(1);
    double total = 0, miss_time = 0;
    int n = 0;
    size_t misses = 0;
    while (n < tokens) {  // walks, each ended where the document may end after 50 tokens
      auto st = c.start();
      for (int step = 0; n < tokens; ++step, ++n) {
        const size_t misses_before = c.cache_misses();
        const auto t0 = std::chrono::steady_clock::now();
        const auto& mask = c.allowed(st);
        const double dt = seconds_since(t0);
        total += dt;
        if (c.cache_misses() != misses_before) miss_time += dt, ++misses;
        // Any allowed token, and half the time past 20 tokens one that closes something, so the
        // walks go through every part of the schema rather than stay in one long string.
        std::vector<int32_t> allowed, closing;
        for (int32_t t = 0; t < int32_t(vocab->size()); ++t)
          if (mask[size_t(t) / 64] >> (t % 64) & 1) {
            allowed.push_back(t);
            if (t != vocab->eos && vocab->bytes[size_t(t)].find_first_of("\"]}") != std::string::npos) closing.push_back(t);
          }
        if (allowed.empty()) return 1;
        const bool end = step > 50 && std::find(allowed.begin(), allowed.end(), vocab->eos) != allowed.end();
        if (end) break;
        const auto& pool = step > 20 && !closing.empty() && rng() % 2 ? closing : allowed;
        int32_t t = pool[rng() % pool.size()];
        if (t == vocab->eos) break;
        c.advance(st, t);
      }
    }
    std::printf("%-16s %10d %14.1f %14.1f %9.0f%%\n", name, n, total / n * 1e6, misses ? miss_time / double(misses) * 1e6 : 0.0,
                100.0 * (1.0 - double(misses) / n));
  }
  return 0;
}
