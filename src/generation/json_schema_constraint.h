#pragma once
// Constrained decoding under a JSON schema: at each step, the tokens whose bytes can continue the
// output into a valid document (json_schema_matcher.h), as a bitmask over the vocabulary for the
// sampler to apply. Tokens are byte strings (the tokenizer's byte-level vocabulary), so a token may
// end inside a UTF-8 character or an escape, and the next one finish it: the matcher's state carries
// the partial character.
//
// The mask is found by walking a trie of the vocabulary's byte strings with the matcher, pruning a
// whole subtree at the first byte that fails, so most of the vocabulary is never looked at once a
// few bytes are fixed (inside a number, after '{'). Masks are cached per matcher state: the states
// of a long string's body, or of a repeated structure, come back again and again.
//
//   JsonSchemaConstraint c(compile_json_schema(schema), vocabulary);
//   auto st = c.start();
//   for (;;) { const auto& mask = c.allowed(st); /* sample t with mask[t/64] >> t%64 & 1 */
//              if (t == eos) break; c.advance(st, t); }
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "generation/json_schema.h"
#include "generation/json_schema_matcher.h"

namespace fathom::tok {
class Tokenizer;
}

namespace fathom::gen {

// A vocabulary as the constraint sees it: each token's bytes, and a trie over them. Built once per
// tokenizer and shared by every constraint.
struct TokenVocabulary {
  std::vector<std::string> bytes;  // by token id; empty for tokens never allowed (special tokens)
  int32_t eos = -1;                // allowed when the document is complete

  struct TrieNode {
    std::vector<std::pair<uint8_t, int32_t>> children;  // by byte, ascending
    std::vector<int32_t> tokens;                          // the tokens whose bytes end here
  };
  using Trie = std::vector<TrieNode>;  // [0] is the root
  Trie trie;
  // Inside a string without a pattern, a token of whole UTF-8 characters with no '"', '\\' or
  // control character is allowed whatever the rest of the state: those are `string_safe`, found
  // once here, and only the others (`string_unsafe`, their trie) are walked there. Most of a large
  // vocabulary is string-safe, so this is what keeps a long string's mask cheap.
  std::vector<uint64_t> string_safe;
  Trie string_unsafe;

  TokenVocabulary(std::vector<std::string> token_bytes, int32_t eos_id);
  // Every token's bytes but the special tokens', which JSON output never contains.
  static TokenVocabulary from_tokenizer(const tok::Tokenizer& tok);
  size_t size() const { return bytes.size(); }
};

class JsonSchemaConstraint {
 public:
  using State = JsonSchemaMatcher::State;

  JsonSchemaConstraint(CompiledSchema schema, std::shared_ptr<const TokenVocabulary> vocab);
  // The matcher refers to the schema held here.
  JsonSchemaConstraint(const JsonSchemaConstraint&) = delete;
  JsonSchemaConstraint& operator=(const JsonSchemaConstraint&) = delete;

  State start() const { return matcher_.start(); }
  // Bit t % 64 of word t / 64 is set when token t may come next. The reference stays valid until
  // the next call.
  const std::vector<uint64_t>& allowed(const State& state);
  // Moves past token t; false (state emptied) when t was not allowed. EOS is not advanced over.
  bool advance(State& state, int32_t token) const;
  bool is_complete(const State& state) const { return matcher_.is_complete(state); }

  size_t cache_hits() const { return hits_; }
  size_t cache_misses() const { return misses_; }

 private:
  CompiledSchema schema_;
  std::shared_ptr<const TokenVocabulary> vocab_;
  JsonSchemaMatcher matcher_;
  std::unordered_map<std::string, std::vector<uint64_t>> cache_;
  size_t hits_ = 0, misses_ = 0;

  void walk(const TokenVocabulary::Trie& trie, int32_t node, const State& state, std::vector<uint64_t>& mask) const;
};

}  // namespace fathom::gen
