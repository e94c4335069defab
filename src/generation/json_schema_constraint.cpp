#include "generation/json_schema_constraint.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace fathom::gen {

namespace {

// Beyond this many cached masks the cache starts over: a schema's states repeat, but a long free
// string with a pattern, or numbers under a range, can make new ones at every step.
constexpr size_t kMaxCachedMasks = 1024;

}  // namespace

TokenVocabulary::TokenVocabulary(std::vector<std::string> token_bytes, int32_t eos_id)
    : bytes(std::move(token_bytes)), eos(eos_id) {
  if (eos < -1 || eos >= int32_t(bytes.size())) fail("constraint vocabulary: eos id {} is not a token", eos);
  trie.emplace_back();
  for (size_t id = 0; id < bytes.size(); ++id) {
    if (bytes[id].empty() || int32_t(id) == eos) continue;
    int32_t at = 0;
    for (char ch : bytes[id]) {
      const uint8_t b = uint8_t(ch);
      auto& kids = trie[size_t(at)].children;
      auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, int32_t(-1)));
      if (it == kids.end() || it->first != b) {
        const int32_t fresh = int32_t(trie.size());
        kids.insert(it, {b, fresh});
        trie.emplace_back();  // `kids` may dangle from here on
        at = fresh;
      } else {
        at = it->second;
      }
    }
    trie[size_t(at)].tokens.push_back(int32_t(id));
  }
}

TokenVocabulary TokenVocabulary::from_tokenizer(const tok::Tokenizer& tok) {
  std::vector<std::string> bytes(tok.vocab_size());
  for (size_t id = 0; id < bytes.size(); ++id)
    if (tok.is_valid_id(int32_t(id)) && !tok.is_special(int32_t(id))) bytes[id] = tok.token_bytes(int32_t(id));
  return TokenVocabulary(std::move(bytes), tok.eos_id());
}

JsonSchemaConstraint::JsonSchemaConstraint(CompiledSchema schema, std::shared_ptr<const TokenVocabulary> vocab)
    : schema_(std::move(schema)), vocab_(std::move(vocab)), matcher_(schema_) {}

void JsonSchemaConstraint::walk(int32_t node, const State& state, std::vector<uint64_t>& mask) const {
  for (const auto& [byte, child] : vocab_->trie[size_t(node)].children) {
    State next = state;
    if (!matcher_.advance(next, byte)) continue;  // no token below this byte can come next
    for (int32_t t : vocab_->trie[size_t(child)].tokens) mask[size_t(t) / 64] |= uint64_t(1) << (t % 64);
    walk(child, next, mask);
  }
}

const std::vector<uint64_t>& JsonSchemaConstraint::allowed(const State& state) {
  std::string key = JsonSchemaMatcher::key(state);
  if (auto it = cache_.find(key); it != cache_.end()) {
    ++hits_;
    return it->second;
  }
  ++misses_;
  if (cache_.size() >= kMaxCachedMasks) cache_.clear();
  std::vector<uint64_t> mask((vocab_->size() + 63) / 64, 0);
  if (!state.configs.empty()) walk(0, state, mask);
  if (vocab_->eos >= 0 && matcher_.is_complete(state)) mask[size_t(vocab_->eos) / 64] |= uint64_t(1) << (vocab_->eos % 64);
  return cache_.emplace(std::move(key), std::move(mask)).first->second;
}

bool JsonSchemaConstraint::advance(State& state, int32_t token) const {
  if (token < 0 || size_t(token) >= vocab_->size() || vocab_->bytes[size_t(token)].empty() || token == vocab_->eos) {
    state.configs.clear();
    return false;
  }
  return matcher_.advance(state, vocab_->bytes[size_t(token)]);
}

}  // namespace fathom::gen
