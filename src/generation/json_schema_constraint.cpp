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

namespace {

void insert(TokenVocabulary::Trie& trie, const std::string& bytes, int32_t id) {
  if (trie.empty()) trie.emplace_back();
  int32_t at = 0;
  for (char ch : bytes) {
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
  trie[size_t(at)].tokens.push_back(id);
}

// Whole, valid UTF-8 characters, none of them '"', '\\' or a control character: what a string's
// body takes in any state between characters (the matcher's rules for lead and continuation
// bytes, written out here because this runs for every token of a vocabulary).
bool is_string_safe(const std::string& bytes) {
  for (size_t i = 0; i < bytes.size();) {
    const uint8_t b = uint8_t(bytes[i]);
    if (b < 0x80) {
      if (b < 0x20 || b == '"' || b == '\\') return false;
      ++i;
      continue;
    }
    int more;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) more = 1;
    else if (b >= 0xE0 && b <= 0xEF) more = 2;
    else if (b >= 0xF0 && b <= 0xF4) more = 3;
    else return false;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
    if (i + size_t(more) >= bytes.size()) return false;  // the character goes on past the token
    for (int k = 1; k <= more; ++k) {
      const uint8_t c = uint8_t(bytes[i + size_t(k)]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return false;
    }
    i += size_t(more) + 1;
  }
  return true;
}

}  // namespace

TokenVocabulary::TokenVocabulary(std::vector<std::string> token_bytes, int32_t eos_id)
    : bytes(std::move(token_bytes)), eos(eos_id) {
  if (eos < -1 || eos >= int32_t(bytes.size())) fail("constraint vocabulary: eos id {} is not a token", eos);
  trie.emplace_back();
  string_unsafe.emplace_back();
  string_safe.assign((bytes.size() + 63) / 64, 0);
  for (size_t id = 0; id < bytes.size(); ++id) {
    if (bytes[id].empty() || int32_t(id) == eos) continue;
    insert(trie, bytes[id], int32_t(id));
    if (is_string_safe(bytes[id])) string_safe[id / 64] |= uint64_t(1) << (id % 64);
    else insert(string_unsafe, bytes[id], int32_t(id));
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

void JsonSchemaConstraint::walk(const TokenVocabulary::Trie& trie, int32_t node, const State& state,
                                std::vector<uint64_t>& mask) const {
  for (const auto& [byte, child] : trie[size_t(node)].children) {
    State next;
    if (!matcher_.advance(state, byte, next)) continue;  // no token below this byte can come next
    for (int32_t t : trie[size_t(child)].tokens) mask[size_t(t) / 64] |= uint64_t(1) << (t % 64);
    walk(trie, child, next, mask);
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
  if (matcher_.in_plain_string(state)) {
    mask = vocab_->string_safe;
    walk(vocab_->string_unsafe, 0, state, mask);
  } else if (!state.configs.empty()) {
    walk(vocab_->trie, 0, state, mask);
  }
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
