// Samples outputs under JSON schemas with the token mask of src/generation/json_schema_constraint.h,
// for tests/structured/random_schemas.mjs to validate with an independent validator (ajv).
//   fathom_json_schema_sample TOKENIZER SCHEMAS.jsonl SEEDS OUT.jsonl
// TOKENIZER is a model directory or tokenizer.json; each line of SCHEMAS.jsonl a schema. For each
// schema and seed, a random walk picks any allowed token, then, past kFreeSteps tokens, the end of
// sequence whenever it is allowed, else half the time a token that closes something (", ], }) and
// half the time any allowed token (a pattern may need more characters before its string can
// close), and from kShortSteps any of the shortest allowed tokens instead of any allowed one (so a
// pattern's '@' is one pick in a hundred, not one in thousands), until it picks the end of sequence. Each line of OUT.jsonl is
//   {"schema": i, "seed": s, "output": TEXT}, or {"schema": i, "error": MESSAGE} when the schema
//   does not compile, or {"schema": i, "seed": s, "dead_end": TEXT} when no token was allowed (a
//   bug: the mask admitted a prefix with no valid completion), or {"schema": i, "seed": s,
//   "unfinished": TEXT} after kMaxSteps tokens.
#include <fstream>
#include <iostream>
#include <random>

#include "core/error.h"
#include "core/json.h"
#include "generation/json_schema_constraint.h"
#include "tokenizer/tokenizer.h"

using namespace fathom;
using nlohmann::json;

namespace {

constexpr int kFreeSteps = 40;
constexpr int kShortSteps = 150;
constexpr int kMaxSteps = 3000;

bool has(const std::vector<uint64_t>& mask, int32_t t) { return mask[size_t(t) / 64] >> (t % 64) & 1; }

json sample(gen::JsonSchemaConstraint& c, const gen::TokenVocabulary& vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  auto st = c.start();
  std::string out;
  for (int step = 0; step < kMaxSteps; ++step) {
    const std::vector<uint64_t>& mask = c.allowed(st);
    std::vector<int32_t> allowed, closing, shortest;
    size_t shortest_len = SIZE_MAX;
    for (int32_t t = 0; t < int32_t(vocab.size()); ++t) {
      if (!has(mask, t)) continue;
      allowed.push_back(t);
      if (t == vocab.eos) continue;
      const std::string& b = vocab.bytes[size_t(t)];
      if (b.find_first_of("\"]}") != std::string::npos) closing.push_back(t);
      if (b.size() < shortest_len) shortest_len = b.size(), shortest.clear();
      if (b.size() == shortest_len) shortest.push_back(t);
    }
    if (allowed.empty()) return {{"dead_end", out}};
    int32_t t;
    if (step < kFreeSteps) t = allowed[rng() % allowed.size()];
    else if (has(mask, vocab.eos)) t = vocab.eos;
    else if (!closing.empty() && rng() % 2) t = closing[rng() % closing.size()];
    else if (step < kShortSteps || shortest.empty()) t = allowed[rng() % allowed.size()];
    else t = shortest[rng() % shortest.size()];
    if (t == vocab.eos) return {{"output", out}};
    out += vocab.bytes[size_t(t)];
    if (!c.advance(st, t)) return {{"dead_end", out}};
  }
  return {{"unfinished", out}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: fathom_json_schema_sample TOKENIZER SCHEMAS.jsonl SEEDS OUT.jsonl\n";
    return 2;
  }
  try {
    auto vocab = std::make_shared<const gen::TokenVocabulary>(
        gen::TokenVocabulary::from_tokenizer(tok::Tokenizer::load(argv[1])));
    std::ifstream in(argv[2]);
    if (!in) fail("{}: cannot read", argv[2]);
    std::ofstream out(argv[4]);
    const int seeds = std::stoi(argv[3]);
    std::string line;
    for (int i = 0; std::getline(in, line); ++i) {
      std::unique_ptr<gen::JsonSchemaConstraint> c;
      try {
        c = std::make_unique<gen::JsonSchemaConstraint>(gen::compile_json_schema(parse_json(line, argv[2])), vocab);
      } catch (const Error& e) {
        out << json{{"schema", i}, {"error", e.what()}}.dump() << "\n";
        continue;
      }
      for (int s = 0; s < seeds; ++s) {
        json r = sample(*c, *vocab, uint32_t(i * 1000 + s));
        r["schema"] = i;
        r["seed"] = s;
        out << r.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "fathom_json_schema_sample: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
