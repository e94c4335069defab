// Q8_0: fathom's 8-bit weight format. Blocks of 32 consecutive weights of a row share one scale d;
// w = d * q with q an integer in [-127, 127] (symmetric; -128 is never written so |q| fits the
// sign trick of AVX2 maddubs), stored as the byte u = q + 128 (1..255): the unsigned operand that
// vpdpbusd wants, with no per-load fix-up.
//
// Row layout (rows are independent, stride q8_0_row_bytes(cols)):
//   [nb x f16 d][nb x 32 bytes u]       nb = ceil(cols / 32); the tail block is padded with q = 0.
// Scales first, 16 per 32-byte load. The quant bytes are block-interleaved in groups of up to 16
// blocks (ops/quant/block_groups.h), so a 64-byte load holds the same 4 weights of 16 blocks.
// 34 bytes per 32 weights = 8.5 bits per weight.
// (Files written before this layout, tagged "Q8_0:", are refused by the loader: re-quantize.)
#pragma once
#include <cstdint>

namespace fathom::ops::quant {

constexpr int64_t kQ8Block = 32;

inline int64_t q8_0_blocks(int64_t cols) { return (cols + kQ8Block - 1) / kQ8Block; }
inline int64_t q8_0_row_bytes(int64_t cols) { return q8_0_blocks(cols) * (2 + kQ8Block); }

// x[cols] f32 -> one Q8_0 row (q8_0_row_bytes(cols) bytes). d = amax / 127 rounded to f16, and q is
// computed with the rounded d, so the stored scale is the one the rounding was done against.
void q8_0_quantize_row(const float* x, int64_t cols, void* row);
void q8_0_dequantize_row(const void* row, int64_t cols, float* out);

// Block b's 32 stored bytes (u = q + 128) in natural order, gathered from its group.
void q8_0_block_bytes(const void* row, int64_t cols, int64_t b, uint8_t out[32]);

// Whole matrix, row after row: dst holds rows * q8_0_row_bytes(cols) bytes.
void q8_0_quantize(const float* x, int64_t rows, int64_t cols, void* dst);

}  // namespace fathom::ops::quant
