// The BPE model of tokenizer.json: vocab (token text -> id) and merges (ranked by their order in the
// file, "a b" strings or ["a", "b"] pairs). A word is split into initial symbols (bytes through the
// GPT-2 byte-to-character map for byte-level tokenizers, else UTF-8 characters), then the adjacent
// pair of lowest rank is merged, leftmost first, until no pair has a merge.
#pragma once
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/json.h"
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fathom::tok {

class Bpe {
 public:
  // `model` is tokenizer.json's "model" object. Ids must be distinct and in [0, kMaxTokenId), and
  // below the vocab's size plus kMaxIdGap, so a hostile file cannot make the id table huge.
  Bpe(const JsonField& model, bool byte_level);

  static constexpr int64_t kMaxTokenId = int64_t(1) << 24;
  static constexpr int64_t kMaxIdGap = int64_t(1) << 16;

  // Appends the ids of each piece to out. Words seen before come from a cache.
  void encode(const std::vector<std::string_view>& pieces, std::vector<int32_t>& out) const;

  int32_t token_to_id(std::string_view token) const;  // -1 when absent
  const std::string* id_to_token(int32_t id) const;   // nullptr when absent
  size_t size() const { return vocab_.size(); }
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }

 private:
  struct MergeSlot {
    uint64_t key = ~0ull;
    int32_t rank = 0, id = 0;
  };
  const MergeSlot* find_merge(int32_t a, int32_t b) const;
  void add_merge(int32_t a, int32_t b, int32_t rank, int32_t id);
  void initial_symbols(std::string_view word, std::vector<int32_t>& syms) const;
  void merge_small(std::vector<int32_t>& syms) const;
  void merge_large(std::vector<int32_t>& syms) const;
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  bool byte_level_;
  bool ignore_merges_ = false;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  int32_t unk_id_ = -1;
  Vocab vocab_;
  std::vector<std::string> id_to_token_;
  int32_t byte_ids_[256];         // byte-level: id of each byte's character, -1 if missing
  int32_t byte_fallback_ids_[256];  // <0xNN> tokens, for byte_fallback
  std::vector<MergeSlot> merges_;  // open addressing, power-of-two size
  uint64_t merge_mask_ = 0;

  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace fathom::tok
