// The MLA latent cache: per token and layer only the normalised latent c_kv (kv_lora_rank values)
// and the shared, already rotated RoPE key (qk_rope_head_dim values) are kept. Keys and values of
// every head are recomputed from the latent (expanded path) or never formed at all (absorbed path).
#pragma once
#include <cstdint>

#include "core/error.h"
#include "core/huge_buffer.h"

namespace fathom {

class LatentCache {
 public:
  LatentCache() = default;
  LatentCache(int64_t layers, int64_t capacity, int64_t kv_lora_rank, int64_t rope_dim)
      : layers_(layers), capacity_(capacity), rank_(kv_lora_rank), rope_(rope_dim),
        data_(size_t(layers * capacity * (kv_lora_rank + rope_dim)) * sizeof(float), "latent cache") {}

  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  int64_t kv_lora_rank() const { return rank_; }
  int64_t rope_dim() const { return rope_; }
  int64_t row_size() const { return rank_ + rope_; }
  // Row for (layer, pos): [c_kv (kv_lora_rank) | k_pe (rope_dim)].
  float* row(int64_t layer, int64_t pos) { return data_.as<float>() + (layer * capacity_ + pos) * row_size(); }
  const float* row(int64_t layer, int64_t pos) const {
    return data_.as<float>() + (layer * capacity_ + pos) * row_size();
  }
  // Reserve room for n more tokens; throws when the context is full.
  void check_room(int64_t n) const {
    if (length_ + n > capacity_)
      fail("context full: {} cached + {} new tokens exceed the {}-token cache", length_, n, capacity_);
  }
  void advance(int64_t n) { length_ += n; }
  void truncate(int64_t n) { length_ = n < length_ ? n : length_; }
  void clear() { length_ = 0; }
  int64_t bytes_per_token() const { return layers_ * row_size() * int64_t(sizeof(float)); }

 private:
  int64_t layers_ = 0, capacity_ = 0, rank_ = 0, rope_ = 0, length_ = 0;
  HugeBuffer data_;  // zero-filled; huge pages (decode streams every row of it per token)
};

}  // namespace fathom
