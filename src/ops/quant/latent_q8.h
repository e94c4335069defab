// The 8-bit latent cache format (opt-in, `--cache-type q8`). A cached MLA row is
// [c_kv (rank) | k_pe (rope)]; each part gets one f32 scale d = amax / 127 and its values are stored
// as bytes u = round(x / d) + 128, so u is in [1, 255] and 128 is zero. Two scales per row, not per
// 32-block like Q8_0: the decode kernel then sums a whole part in int32 before any float work.
//
// Byte layout, chosen for the VNNI decode kernel (ops/latent_attention_q8_avx512vbmi.cpp): rows in groups
// of 16, columns in quads of 4,
//   byte (s, k) at  (s / 16) * group_bytes + (k / 4) * 64 + (s % 16) * 4 + k % 4,
// so one 64-byte line holds 4 columns of 16 rows (the 16 lanes of one vpdpbusd when scoring 16 rows)
// and rows s..s+3 of 4 columns are 16 contiguous bytes (the value phase transposes them in
// registers). The latent part is padded to a multiple of 16 columns (value tiles are 16 columns
// wide), the rope part to a multiple of 4; pad bytes are 128.
//
// Cost: (rank_p + rope_p + 8) bytes per row and layer against 4 * (rank + rope) for f32; 584 vs
// 2304 for DeepSeek V2/V3 (3.9x less).
#pragma once
#include <cstdint>

namespace fathom::ops {

struct LatentQ8Layout {
  int64_t rank = 0, rope = 0;      // columns of each part
  int64_t rank_p = 0, rope_p = 0;  // padded
  LatentQ8Layout() = default;
  LatentQ8Layout(int64_t rank_, int64_t rope_)
      : rank(rank_), rope(rope_), rank_p((rank_ + 15) / 16 * 16), rope_p((rope_ + 3) / 4 * 4) {}
  int64_t quads() const { return (rank_p + rope_p) / 4; }
  int64_t group_bytes() const { return quads() * 64; }
  static int64_t padded_rows(int64_t rows) { return (rows + 15) / 16 * 16; }
  int64_t bytes(int64_t rows) const { return padded_rows(rows) / 16 * group_bytes(); }
};

// One layer's rows: bytes in the layout above, and per row the latent and rope scales.
struct LatentQ8Rows {
  const uint8_t* data = nullptr;
  const float* scale_lat = nullptr;
  const float* scale_rope = nullptr;
  LatentQ8Layout layout;
};

// Quantizes row[rank + rope] into row s.
void latent_q8_store_row(const LatentQ8Layout& L, uint8_t* data, float* scale_lat, float* scale_rope, int64_t s,
                         const float* row);
// Row s as f32 (rank + rope values): exactly the values every kernel computes with.
void latent_q8_load_row(const LatentQ8Rows& r, int64_t s, float* row);

}  // namespace fathom::ops
