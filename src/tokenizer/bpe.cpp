// BPE merging. Short words (almost all of them) merge by rescanning a small array, which beats any
// queue at that size; long words use a min-heap over (rank, position) with a linked list of
// symbols, the same order Hugging Face's Word::merge_all produces: lowest rank first, and on equal
// rank the leftmost pair.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <queue>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"

namespace fathom::tok {
namespace {

constexpr size_t kSmallWord = 48;        // symbols; above this the heap wins
constexpr size_t kMaxCachedWord = 256;   // bytes, as Hugging Face's cache
constexpr size_t kMaxCacheEntries = 1 << 18;

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

uint64_t mix(uint64_t k) {  // splitmix64 finaliser: ids are small and dense, so spread them
  k ^= k >> 30; k *= 0xbf58476d1ce4e5b9ull;
  k ^= k >> 27; k *= 0x94d049bb133111ebull;
  return k ^ (k >> 31);
}

}  // namespace

Bpe::Bpe(const JsonField& model, bool byte_level) : byte_level_(byte_level) {
  model.expect_object();
  if (const std::string type = model.str_or("type", "BPE"); type != "BPE")
    model["type"].fail(fmt::format("model type '{}' is not supported (only BPE)", type));
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.has(key) && model[key].str() != "") model[key].fail("this BPE option is not supported");
  ignore_merges_ = model.bool_or("ignore_merges", false);
  byte_fallback_ = model.bool_or("byte_fallback", false);
  fuse_unk_ = model.bool_or("fuse_unk", false);

  // Ids index the per-id tables, so each is checked before it is used: in range, and not shared.
  const JsonField vocab = model.required("vocab").expect_object();
  const int64_t id_limit = std::min<int64_t>(kMaxTokenId, int64_t(vocab.size()) + kMaxIdGap);
  int32_t max_id = -1;
  vocab_.reserve(vocab.size());
  for (auto& [tok, id] : vocab.json().items()) {
    // The common case checked inline; JsonField only for the message.
    const bool ok = id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < id_limit;
    const int32_t i = int32_t(ok ? id.get<int64_t>() : vocab[tok].integer(0, id_limit - 1));
    vocab_.emplace(tok, i);
    max_id = std::max(max_id, i);
  }
  id_to_token_.resize(size_t(max_id) + 1);
  for (auto& [tok, id] : vocab_) {
    if (!id_to_token_[id].empty())
      vocab.fail(fmt::format("tokens '{}' and '{}' both have id {}", id_to_token_[id], tok, id));
    id_to_token_[id] = tok;
  }
  if (model.has("unk_token")) unk_id_ = token_to_id(model["unk_token"].str());

  const auto& bl = byte_level_map();
  for (int b = 0; b < 256; ++b) {
    byte_ids_[b] = token_to_id(bl.byte_to_utf8[b]);
    byte_fallback_ids_[b] = token_to_id(fmt::format("<0x{:02X}>", b));
  }

  const JsonField merges = model["merges"];
  const size_t n_merges = merges.is_null() ? 0 : merges.expect_array().size();
  size_t cap = 1;
  while (cap < n_merges * 2 + 16) cap <<= 1;
  merges_.assign(cap, MergeSlot{});
  merge_mask_ = cap - 1;
  int32_t rank = 0;
  for (size_t k = 0; k < n_merges; ++k) {
    const nlohmann::json& mj = merges.json()[k];
    auto m = [&] { return merges.at(k); };  // for messages only
    std::string a, b;
    if (mj.is_string()) {
      const std::string& s = mj.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        m().fail(fmt::format("merge '{}' is not two tokens separated by one space", s));
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {
      if (!mj.is_array() || mj.size() != 2 || !mj[0].is_string() || !mj[1].is_string())
        m().fail("a merge must be \"a b\" or [\"a\", \"b\"]");
      a = mj[0].get<std::string>();
      b = mj[1].get<std::string>();
    }
    int32_t ia = token_to_id(a), ib = token_to_id(b), im = token_to_id(a + b);
    if (ia < 0 || ib < 0 || im < 0) m().fail(fmt::format("merge '{} {}' uses a token missing from the vocab", a, b));
    if (!find_merge(ia, ib)) add_merge(ia, ib, rank, im);
    ++rank;
  }
}

int32_t Bpe::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

const std::string* Bpe::id_to_token(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(id_to_token_.size()) || id_to_token_[id].empty())
    return nullptr;
  return &id_to_token_[id];
}

const Bpe::MergeSlot* Bpe::find_merge(int32_t a, int32_t b) const {
  uint64_t key = pair_key(a, b);
  for (uint64_t i = mix(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    const MergeSlot& s = merges_[i];
    if (s.key == key) return &s;
    if (s.key == ~0ull) return nullptr;
  }
}

void Bpe::add_merge(int32_t a, int32_t b, int32_t rank, int32_t id) {
  uint64_t key = pair_key(a, b);
  uint64_t i = mix(key) & merge_mask_;
  while (merges_[i].key != ~0ull) i = (i + 1) & merge_mask_;
  merges_[i] = {key, rank, id};
}

void Bpe::initial_symbols(std::string_view word, std::vector<int32_t>& syms) const {
  syms.clear();
  bool last_unk = false;
  auto push_unk = [&] {
    if (unk_id_ < 0) return;  // no unk token: Hugging Face drops the character
    if (!(fuse_unk_ && last_unk)) syms.push_back(unk_id_);
    last_unk = true;
  };
  if (byte_level_) {
    for (unsigned char c : word) {
      if (byte_ids_[c] >= 0) { syms.push_back(byte_ids_[c]); last_unk = false; }
      else push_unk();
    }
    return;
  }
  for (size_t i = 0; i < word.size();) {
    size_t start = i;
    next_code_point(word, i);
    int32_t id = token_to_id(word.substr(start, i - start));
    if (id >= 0) { syms.push_back(id); last_unk = false; continue; }
    bool all_bytes = byte_fallback_;
    for (size_t k = start; all_bytes && k < i; ++k)
      all_bytes = byte_fallback_ids_[static_cast<unsigned char>(word[k])] >= 0;
    if (all_bytes) {
      for (size_t k = start; k < i; ++k)
        syms.push_back(byte_fallback_ids_[static_cast<unsigned char>(word[k])]);
      last_unk = false;
    } else {
      push_unk();
    }
  }
}

void Bpe::merge_small(std::vector<int32_t>& syms) const {
  // rank[i] belongs to the pair (syms[i], syms[i + 1]); a merge changes only its two neighbours'.
  thread_local std::vector<int32_t> rank, merged;
  size_t n = syms.size();
  if (n < 2) return;
  rank.resize(n - 1);
  merged.resize(n - 1);
  auto look = [&](size_t i) {
    const MergeSlot* m = find_merge(syms[i], syms[i + 1]);
    rank[i] = m ? m->rank : INT32_MAX;
    merged[i] = m ? m->id : -1;
  };
  for (size_t i = 0; i + 1 < n; ++i) look(i);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i)
      if (rank[i] < rank[best]) best = i;
    if (rank[best] == INT32_MAX) break;
    syms[best] = merged[best];
    syms.erase(syms.begin() + best + 1);
    rank.erase(rank.begin() + best);
    merged.erase(merged.begin() + best);
    --n;
    if (best + 1 < n) look(best);
    if (best > 0) look(best - 1);
  }
}

void Bpe::merge_large(std::vector<int32_t>& syms) const {
  struct Cand {
    int32_t rank, pos, id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  size_t n = syms.size();
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> heap;
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
    if (i + 1 < n)
      if (auto* m = find_merge(syms[i], syms[i + 1]))
        heap.push({m->rank, static_cast<int32_t>(i), m->id});
  }
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    int32_t r = next[c.pos];
    const MergeSlot* m = find_merge(syms[c.pos], syms[r]);
    if (!m || m->id != c.id) continue;  // stale: one side merged since this was queued
    syms[c.pos] = c.id;
    alive[r] = false;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    if (prev[c.pos] >= 0)
      if (auto* pm = find_merge(syms[prev[c.pos]], syms[c.pos]))
        heap.push({pm->rank, prev[c.pos], pm->id});
    if (next[c.pos] >= 0)
      if (auto* nm = find_merge(syms[c.pos], syms[next[c.pos]]))
        heap.push({nm->rank, c.pos, nm->id});
  }
  size_t out = 0;
  for (size_t i = 0; i < n; ++i)
    if (alive[i]) syms[out++] = syms[i];
  syms.resize(out);
}

void Bpe::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  thread_local std::vector<int32_t> syms;
  if (ignore_merges_) {
    std::string key;
    if (byte_level_) {
      const auto& bl = byte_level_map();
      for (unsigned char c : word) key += bl.byte_to_utf8[c];
    } else {
      key = word;
    }
    if (int32_t id = token_to_id(key); id >= 0) { out.push_back(id); return; }
  }
  initial_symbols(word, syms);
  if (syms.size() <= kSmallWord) merge_small(syms);
  else merge_large(syms);
  out.insert(out.end(), syms.begin(), syms.end());
}

void Bpe::encode(const std::vector<std::string_view>& pieces, std::vector<int32_t>& out) const {
  // One lock for the whole call; a thread that finds the cache busy encodes without it.
  std::unique_lock lock(cache_mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    for (auto p : pieces) encode_word(p, out);
    return;
  }
  for (auto p : pieces) {
    if (p.size() > kMaxCachedWord) { encode_word(p, out); continue; }
    if (auto it = cache_.find(p); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      continue;
    }
    size_t before = out.size();
    encode_word(p, out);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::string(p), std::vector<int32_t>(out.begin() + before, out.end()));
  }
}

}  // namespace fathom::tok
