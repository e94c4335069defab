#include "model/kv_cache.h"

namespace fathom {

const char* cache_type_name(CacheType t) { return t == CacheType::Q8 ? "q8" : "f32"; }

CacheType parse_cache_type(const std::string& s) {
  if (s == "f32") return CacheType::F32;
  if (s == "q8") return CacheType::Q8;
  fail("cache type '{}': expected f32 or q8", s);
}

LatentCache::LatentCache(int64_t layers, int64_t capacity, int64_t kv_lora_rank, int64_t rope_dim, CacheType type)
    : type_(type), layers_(layers), capacity_(capacity), rank_(kv_lora_rank), rope_(rope_dim),
      q8_(kv_lora_rank, rope_dim),
      data_(size_t(layers * (type == CacheType::F32 ? capacity * (kv_lora_rank + rope_dim) * int64_t(sizeof(float))
                                                    : q8_layer_bytes())),
            "latent cache") {}

float* LatentCache::f32_base() {
  if (type_ != CacheType::F32) fail("latent cache: row() is for f32 caches; this one is {}", cache_type_name(type_));
  return data_.as<float>();
}

int64_t LatentCache::q8_layer_bytes() const {
  return q8_.bytes(capacity_) + 2 * ops::LatentQ8Layout::padded_rows(capacity_) * 4;
}

ops::LatentQ8Rows LatentCache::q8_rows(int64_t layer) const {
  if (type_ != CacheType::Q8) fail("latent cache: q8_rows() on a {} cache", cache_type_name(type_));
  uint8_t* base = q8_layer(layer);
  const float* scales = reinterpret_cast<const float*>(base + q8_.bytes(capacity_));
  return {base, scales, scales + ops::LatentQ8Layout::padded_rows(capacity_), q8_};
}

void LatentCache::store_row(int64_t layer, int64_t pos, const float* values) {
  if (type_ == CacheType::F32) {
    float* dst = row(layer, pos);
    for (int64_t i = 0; i < row_size(); ++i) dst[i] = values[i];
    return;
  }
  const ops::LatentQ8Rows r = q8_rows(layer);
  ops::latent_q8_store_row(q8_, const_cast<uint8_t*>(r.data), const_cast<float*>(r.scale_lat),
                           const_cast<float*>(r.scale_rope), pos, values);
}

void LatentCache::load_row(int64_t layer, int64_t pos, float* values) const {
  if (type_ == CacheType::F32) {
    const float* src = row(layer, pos);
    for (int64_t i = 0; i < row_size(); ++i) values[i] = src[i];
    return;
  }
  ops::latent_q8_load_row(q8_rows(layer), pos, values);
}

std::vector<float> LatentCache::load_rows(int64_t layer, int64_t n) const {
  std::vector<float> out(size_t(n * row_size()));
  for (int64_t s = 0; s < n; ++s) load_row(layer, s, out.data() + s * row_size());
  return out;
}

int64_t LatentCache::bytes_per_token() const {
  if (type_ == CacheType::F32) return layers_ * row_size() * int64_t(sizeof(float));
  return layers_ * (q8_.quads() * 4 + 8);
}

}  // namespace fathom
