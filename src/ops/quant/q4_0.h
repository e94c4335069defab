// Q4_0: fathom's 4-bit weight format. Blocks of 32 consecutive weights of a row share one scale d;
// w = d * (q - 8) with q a nibble in [0, 15]. d = m / -8 where m is the block's value of largest
// magnitude, so m itself is exact (q = 0) and the opposite side clips at 7d.
//
// Row layout (rows are independent, stride q4_0_row_bytes(cols)):
//   [nb x f16 d][nb x 16 bytes]          nb = ceil(cols / 32); the tail block is zero-padded.
// In a block's 16 bytes, byte j holds element j in its low nibble and element j + 16 in its high
// nibble: one 16-byte load, a shift and a mask give the block's 32 weights in order (AVX2), and a
// 64-byte load gives 4 blocks' low halves and high halves (AVX-512). 18 bytes per 32 weights =
// 4.5 bits per weight.
#pragma once
#include <cstdint>

namespace fathom::ops::quant {

constexpr int64_t kQ4Block = 32;

inline int64_t q4_0_blocks(int64_t cols) { return (cols + kQ4Block - 1) / kQ4Block; }
inline int64_t q4_0_row_bytes(int64_t cols) { return q4_0_blocks(cols) * (2 + kQ4Block / 2); }

void q4_0_quantize_row(const float* x, int64_t cols, void* row);
void q4_0_dequantize_row(const void* row, int64_t cols, float* out);
void q4_0_quantize(const float* x, int64_t rows, int64_t cols, void* dst);

}  // namespace fathom::ops::quant
