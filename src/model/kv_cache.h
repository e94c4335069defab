// The MLA latent cache: per token and layer only the normalised latent c_kv (kv_lora_rank values)
// and the shared, already rotated RoPE key (qk_rope_head_dim values) are kept. Keys and values of
// every head are recomputed from the latent (expanded path) or never formed at all (absorbed path).
//
// Two storage types: F32 (the default, exact) and Q8 (opt-in, `--cache-type q8`: 8 bits per value
// plus two f32 scales per row, ops/quant/latent_q8.h; 3.9x smaller at DeepSeek's shape, and the
// absorbed decode kernel reads it with int8 arithmetic). Whatever the type, every reader sees the
// same values: load_row() returns exactly what the kernels compute with.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/huge_buffer.h"
#include "ops/quant/latent_q8.h"

namespace fathom {

enum class CacheType { F32, Q8 };
const char* cache_type_name(CacheType t);
CacheType parse_cache_type(const std::string& s);  // "f32" | "q8"; fails naming the accepted ones

class LatentCache {
 public:
  LatentCache() = default;
  LatentCache(int64_t layers, int64_t capacity, int64_t kv_lora_rank, int64_t rope_dim, CacheType type = CacheType::F32);

  CacheType type() const { return type_; }
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  int64_t kv_lora_rank() const { return rank_; }
  int64_t rope_dim() const { return rope_; }
  int64_t row_size() const { return rank_ + rope_; }

  // F32 only: row for (layer, pos), [c_kv (kv_lora_rank) | k_pe (rope_dim)], in place.
  float* row(int64_t layer, int64_t pos) { return f32_base() + (layer * capacity_ + pos) * row_size(); }
  const float* row(int64_t layer, int64_t pos) const {
    return const_cast<LatentCache*>(this)->f32_base() + (layer * capacity_ + pos) * row_size();
  }
  // Any type: writes / reads row (layer, pos) as row_size() floats.
  void store_row(int64_t layer, int64_t pos, const float* values);
  void load_row(int64_t layer, int64_t pos, float* values) const;
  // Rows [0, n) of a layer as one [n, row_size()] f32 matrix.
  std::vector<float> load_rows(int64_t layer, int64_t n) const;
  // Q8 only: one layer's rows for the int8 kernels.
  ops::LatentQ8Rows q8_rows(int64_t layer) const;

  // Reserve room for n more tokens; throws when the context is full.
  void check_room(int64_t n) const {
    if (length_ + n > capacity_)
      fail("context full: {} cached + {} new tokens exceed the {}-token cache", length_, n, capacity_);
  }
  void advance(int64_t n) { length_ += n; }
  void truncate(int64_t n) { length_ = n < length_ ? n : length_; }
  void clear() { length_ = 0; }
  // Bytes the cache stores per token (all layers).
  int64_t bytes_per_token() const;

 private:
  float* f32_base();
  int64_t q8_layer_bytes() const;  // bytes, then the two scale arrays (capacity rounded up to 16 each)
  uint8_t* q8_layer(int64_t layer) const {
    return const_cast<uint8_t*>(data_.as<uint8_t>()) + layer * q8_layer_bytes();
  }

  CacheType type_ = CacheType::F32;
  int64_t layers_ = 0, capacity_ = 0, rank_ = 0, rope_ = 0, length_ = 0;
  ops::LatentQ8Layout q8_;
  HugeBuffer data_;  // zero-filled; huge pages (decode streams every row of it per token)
};

}  // namespace fathom
