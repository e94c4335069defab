#include "ops/quant/q8_0.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "ops/quant/block_groups.h"

namespace fathom::ops::quant {

void q8_0_quantize_row(const float* x, int64_t cols, void* row) {
  const int64_t nb = q8_0_blocks(cols);
  auto* scales = static_cast<uint16_t*>(row);
  auto* q = reinterpret_cast<uint8_t*>(scales + nb);
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t c0 = b * kQ8Block, len = std::min(kQ8Block, cols - c0);
    float amax = 0;
    for (int64_t i = 0; i < len; ++i) amax = std::max(amax, std::fabs(x[c0 + i]));
    const uint16_t d16 = f32_to_f16(amax / 127.0f);
    const float d = f16_to_f32(d16);
    const float inv = d > 0 ? 1.0f / d : 0.0f;
    scales[b] = d16;
    for (int64_t i = 0; i < kQ8Block; ++i) {
      const float v = i < len ? x[c0 + i] * inv : 0.0f;
      const int qi = int(std::clamp(std::nearbyint(v), -127.0f, 127.0f));
      q[block_dword_offset(nb, b, i / 4, kQ8Block) + i % 4] = uint8_t(qi + 128);
    }
  }
}

void q8_0_block_bytes(const void* row, int64_t cols, int64_t b, uint8_t out[32]) {
  const int64_t nb = q8_0_blocks(cols);
  const auto* q = static_cast<const uint8_t*>(row) + 2 * nb;
  for (int64_t k = 0; k < kQ8Block / 4; ++k) std::memcpy(out + 4 * k, q + block_dword_offset(nb, b, k, kQ8Block), 4);
}

void q8_0_dequantize_row(const void* row, int64_t cols, float* out) {
  const int64_t nb = q8_0_blocks(cols);
  const auto* scales = static_cast<const uint16_t*>(row);
  uint8_t u[kQ8Block];
  for (int64_t b = 0; b < nb; ++b) {
    q8_0_block_bytes(row, cols, b, u);
    const float d = f16_to_f32(scales[b]);
    for (int64_t i = 0; i < kQ8Block && b * kQ8Block + i < cols; ++i) out[b * kQ8Block + i] = d * float(int(u[i]) - 128);
  }
}

void q8_0_quantize(const float* x, int64_t rows, int64_t cols, void* dst) {
  const int64_t rb = q8_0_row_bytes(cols);
  for (int64_t r = 0; r < rows; ++r) q8_0_quantize_row(x + r * cols, cols, static_cast<uint8_t*>(dst) + r * rb);
}

}  // namespace fathom::ops::quant
