#include "ops/quant/q4_0.h"

#include <algorithm>
#include <cmath>

#include <cstring>

#include "core/dtype.h"
#include "ops/quant/block_groups.h"

namespace fathom::ops::quant {

void q4_0_quantize_row(const float* x, int64_t cols, void* row) {
  const int64_t nb = q4_0_blocks(cols);
  auto* scales = static_cast<uint16_t*>(row);
  auto* q = reinterpret_cast<uint8_t*>(scales + nb);
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t c0 = b * kQ4Block, len = std::min(kQ4Block, cols - c0);
    float m = 0;  // the value of largest magnitude, with its sign
    for (int64_t i = 0; i < len; ++i)
      if (std::fabs(x[c0 + i]) > std::fabs(m)) m = x[c0 + i];
    const uint16_t d16 = f32_to_f16(m / -8.0f);
    const float d = f16_to_f32(d16);
    const float inv = d != 0 ? 1.0f / d : 0.0f;
    scales[b] = d16;
    uint8_t nib[kQ4Block];
    for (int64_t i = 0; i < kQ4Block; ++i) {
      const float v = i < len ? x[c0 + i] * inv : 0.0f;
      nib[i] = uint8_t(std::clamp(std::nearbyint(v) + 8.0f, 0.0f, 15.0f));
    }
    for (int64_t j = 0; j < kQ4Block / 2; ++j)
      q[block_dword_offset(nb, b, j / 4, kQ4Block / 2) + j % 4] = uint8_t(nib[j] | (nib[j + 16] << 4));
  }
}

void q4_0_block_bytes(const void* row, int64_t cols, int64_t b, uint8_t out[16]) {
  const int64_t nb = q4_0_blocks(cols);
  const auto* q = static_cast<const uint8_t*>(row) + 2 * nb;
  for (int64_t k = 0; k < 4; ++k) std::memcpy(out + 4 * k, q + block_dword_offset(nb, b, k, kQ4Block / 2), 4);
}

void q4_0_dequantize_row(const void* row, int64_t cols, float* out) {
  const int64_t nb = q4_0_blocks(cols);
  const auto* scales = static_cast<const uint16_t*>(row);
  uint8_t bytes[kQ4Block / 2];
  for (int64_t b = 0; b < nb; ++b) {
    q4_0_block_bytes(row, cols, b, bytes);
    const float d = f16_to_f32(scales[b]);
    for (int64_t i = 0; i < kQ4Block && b * kQ4Block + i < cols; ++i) {
      const uint8_t byte = bytes[i & 15];
      const int nibble = i < 16 ? (byte & 15) : (byte >> 4);
      out[b * kQ4Block + i] = d * float(nibble - 8);
    }
  }
}

void q4_0_quantize(const float* x, int64_t rows, int64_t cols, void* dst) {
  const int64_t rb = q4_0_row_bytes(cols);
  for (int64_t r = 0; r < rows; ++r) q4_0_quantize_row(x + r * cols, cols, static_cast<uint8_t*>(dst) + r * rb);
}

}  // namespace fathom::ops::quant
