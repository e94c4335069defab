#include "ops/quant/latent_q8.h"

#include <algorithm>
#include <cmath>

namespace fathom::ops {
namespace {

inline int64_t offset(const LatentQ8Layout& L, int64_t s, int64_t k) {
  return (s / 16) * L.group_bytes() + (k / 4) * 64 + (s % 16) * 4 + k % 4;
}

// One part (n values starting at column k0, padded to np): returns its scale.
float store_part(const LatentQ8Layout& L, uint8_t* data, int64_t s, const float* x, int64_t n, int64_t np,
                 int64_t k0) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int64_t i = 0; i < np; ++i) {
    const float q = i < n ? std::nearbyint(x[i] * inv) : 0.0f;  // |q| <= 127 by construction
    data[offset(L, s, k0 + i)] = uint8_t(int(std::clamp(q, -127.0f, 127.0f)) + 128);
  }
  return d;
}

}  // namespace

void latent_q8_store_row(const LatentQ8Layout& L, uint8_t* data, float* scale_lat, float* scale_rope, int64_t s,
                         const float* row) {
  scale_lat[s] = store_part(L, data, s, row, L.rank, L.rank_p, 0);
  scale_rope[s] = store_part(L, data, s, row + L.rank, L.rope, L.rope_p, L.rank_p);
}

void latent_q8_load_row(const LatentQ8Rows& r, int64_t s, float* row) {
  const LatentQ8Layout& L = r.layout;
  for (int64_t i = 0; i < L.rank; ++i) row[i] = float(int(r.data[offset(L, s, i)]) - 128) * r.scale_lat[s];
  for (int64_t i = 0; i < L.rope; ++i)
    row[L.rank + i] = float(int(r.data[offset(L, s, L.rank_p + i)]) - 128) * r.scale_rope[s];
}

}  // namespace fathom::ops
