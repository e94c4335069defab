// Low-precision GEMMs of mixed-precision training (DeepSeek-V3 §3.3): operands stored as E4M3 bytes
// with fine-grained f32 scales, or as BF16 without scales, multiplied with FP32 accumulation.
//
// A LowpMatrix is [rows, cols] with cols the reduction dimension K. E4M3 operands carry one scale
// per (row group, 128 columns): row_group 1 gives DeepSeek's 1x128 activation / gradient tiles,
// row_group 128 its 128x128 weight blocks. A scale is the dequantizing multiplier, amax / 448,
// computed online from the tile's own max |x| (1 for an all-zero tile); q = e4m3(x / scale) rounds
// to nearest even and saturates at ±448.
//
//   C[m, n] (+)= Σ_kb sA[m, kb] · sB[n, kb] · P[m, n, kb],   P = Σ_{k in block kb} A[m, k] · B[n, k]
//
// Products of two E4M3 (or BF16) values are exact in f32. P, the sum over one 128-column block, is
// accumulated in f32 and then promoted, scaled, into the f32 output accumulator: DeepSeek's
// promotion interval N_C = 128 (a partial last block is shorter). The scalar path is the oracle:
// P in ascending k, then acc = fma(sA·sB, P, acc) in ascending kb. The SIMD paths sum P lane-wise
// and add lanes at the end, so they differ from it by f32 reassociation only; each output element
// is computed on one thread in a fixed order, so no path depends on the thread count.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "training/kernels.h"

namespace fathom::train {

enum class LowpFormat : uint8_t { BF16, E4M3 };
constexpr int64_t kLowpBlock = 128;  // columns per scale tile, and the promotion interval N_C
constexpr float kE4M3Max = 448.0f;

struct LowpMatrix {
  LowpFormat format = LowpFormat::E4M3;
  int64_t rows = 0, cols = 0;
  int64_t row_group = 1;        // rows sharing a scale (E4M3 only)
  std::vector<uint8_t> bytes;   // [rows, cols] E4M3 bytes, or BF16 as uint16 pairs
  std::vector<float> scale;     // [ceil(rows/row_group), ceil(cols/128)]; empty for BF16
  int64_t col_blocks() const { return (cols + kLowpBlock - 1) / kLowpBlock; }
  const uint8_t* e4m3_row(int64_t r) const { return bytes.data() + r * cols; }
  const uint16_t* bf16_row(int64_t r) const { return reinterpret_cast<const uint16_t*>(bytes.data()) + r * cols; }
  float scale_at(int64_t r, int64_t kb) const {
    return format == LowpFormat::E4M3 ? scale[(r / row_group) * col_blocks() + kb] : 1.0f;
  }
};

// Round to nearest even, saturating at ±448 (f32_to_e4m3's result, by bit arithmetic; NaN not
// expected: the trainer stops on a non-finite loss first).
uint8_t e4m3_encode(float x);

// dst = src[rows, cols] (row stride ld) in `format`; E4M3 tiles are row_group x 128 with online
// scales. dst's storage is reused when large enough, so a step allocates only on its first call.
void lowp_quantize(const Ops& ops, LowpFormat format, int64_t row_group, const float* src, int64_t rows, int64_t cols,
                   int64_t ld, LowpMatrix& dst);
// dst = src[rows, cols]ᵀ (row stride cols) quantized as lowp_quantize would quantize the
// transposed matrix (row_group 1 or 128), without an f32 transpose in memory.
void lowp_quantize_transposed(const Ops& ops, LowpFormat format, int64_t row_group, const float* src, int64_t rows,
                              int64_t cols, LowpMatrix& dst);
// dst[rows, cols] = the values m represents (scale · decoded element).
void lowp_dequantize(const Ops& ops, const LowpMatrix& m, float* dst);

// The arithmetic a GEMM runs on. Scalar is the reference; Avx2 decodes E4M3 through the FP16 bit
// pattern and F16C to f32 panels and multiplies with f32 FMA; Avx512Bf16 decodes to BF16 panels
// (exact for E4M3) and multiplies with VDPBF16PS (exact products, f32 sums).
enum class LowpPath : uint8_t { Scalar, Avx2, Avx512Bf16 };
std::string_view lowp_path_name(LowpPath p);
bool lowp_path_supported(LowpPath p);
// The best supported path under FATHOM_ISA's cap (scalar -> Scalar, avx2 -> Avx2), chosen once.
LowpPath lowp_best_path();

// C[M, N] (+)= A · Bᵀ as above; A is [M, K], B is [N, K], same format and K; C has row stride ldc.
void lowp_gemm(const Ops& ops, LowpPath path, const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc,
               bool accumulate);

namespace detail {
// One block of C, rows [i0, i1) x columns [j0, j1), on AVX512-BF16 (lowp_gemm_avx512bf16.cpp).
void lowp_gemm_block_avx512bf16(const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc, bool accumulate,
                                int64_t i0, int64_t i1, int64_t j0, int64_t j1);
}  // namespace detail

}  // namespace fathom::train
