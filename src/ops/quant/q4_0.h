// Q4_0: fathom's 4-bit weight format. Blocks of 32 consecutive weights of a row share one scale d;
// w = d * (q - 8) with q a nibble in [0, 15]. d = m / -8 where m is the block's value of largest
// magnitude, so m itself is exact (q = 0) and the opposite side clips at 7d.
//
// Row layout (rows are independent, stride q4_0_row_bytes(cols)):
//   [nb x f16 d][nb x 16 bytes]          nb = ceil(cols / 32); the tail block is zero-padded.
// In a block's 16 natural bytes, byte j holds element j in its low nibble and element j + 16 in its
// high nibble, so dword k holds elements 4k..4k+3 (low) and 16+4k..16+4k+3 (high). The quant bytes
// are block-interleaved in groups of up to 16 blocks (ops/quant/block_groups.h): a 64-byte load
// holds dword k of 16 blocks, and a mask and a shift give their low and high halves.
// 18 bytes per 32 weights = 4.5 bits per weight.
// (Files written before this layout, tagged "Q4_0:", are refused by the loader: re-quantize.)
#pragma once
#include <cstdint>

namespace fathom::ops::quant {

constexpr int64_t kQ4Block = 32;

inline int64_t q4_0_blocks(int64_t cols) { return (cols + kQ4Block - 1) / kQ4Block; }
inline int64_t q4_0_row_bytes(int64_t cols) { return q4_0_blocks(cols) * (2 + kQ4Block / 2); }

void q4_0_quantize_row(const float* x, int64_t cols, void* row);
void q4_0_dequantize_row(const void* row, int64_t cols, float* out);

// Block b's 16 bytes in natural order (byte j: element j low, j + 16 high), gathered from its group.
void q4_0_block_bytes(const void* row, int64_t cols, int64_t b, uint8_t out[16]);
void q4_0_quantize(const float* x, int64_t rows, int64_t cols, void* dst);

}  // namespace fathom::ops::quant
