// Low-precision GEMMs of mixed-precision training (DeepSeek-V3 §3.3): operands stored as E4M3 bytes
// with fine-grained f32 scales, or as BF16 without scales, multiplied with FP32 accumulation.
//
// A LowpMatrix is [rows, cols]; E4M3 carries one scale per tile of row_group x col_group. A
// scale is the dequantizing multiplier, amax / 448, computed online from the tile's own max |x| (1
// for an all-zero tile); q = e4m3(x / scale) rounds to nearest even and saturates at ±448.
//
//   C[m, n] (+)= Σ_kb sA[m, kb] · sB[kb, n] · P[m, n, kb],   P = Σ_{k in block kb} A[m, k] · B[k, n]
//
// A is [M, K] row-major with tiles 1x128 (DeepSeek's per-token activation tiles) or 128x128
// (weight blocks); B is [K, N] "K-major" (row k holds the N values B[k, :]) with tiles 128x1 (a
// token-wise activation tile, as Wgrad re-tiles x) or 128x128. The reduction runs along A's rows
// and B's columns, so each block kb of 128 k has one scale per row of A and per column of B.
//
// Products of two E4M3 (or BF16) values are exact in f32. P, the sum over one 128-element block,
// is accumulated in f32 in ascending k and then promoted, scaled, into the f32 output accumulator:
// DeepSeek's promotion interval N_C = 128 (a partial last block is shorter). The accumulator starts
// at C (accumulate) or 0 and takes acc = fma(sA·sB, P, acc) in ascending kb. The scalar path is
// the reference; the SIMD paths decode the operands exactly to f32 and perform the same operations
// in the same order lane by lane (k outer, outputs across lanes), so they equal it bit for bit and
// no path depends on the thread count or the ISA.
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
  int64_t row_group = 1;           // rows sharing a scale (E4M3 only)
  int64_t col_group = kLowpBlock;  // columns sharing a scale (E4M3 only)
  std::vector<uint8_t> bytes;      // [rows, cols] E4M3 bytes, or BF16 as uint16 pairs
  std::vector<float> scale;        // [ceil(rows/row_group), ceil(cols/col_group)]; empty for BF16
  int64_t col_tiles() const { return (cols + col_group - 1) / col_group; }
  const uint8_t* e4m3_row(int64_t r) const { return bytes.data() + r * cols; }
  const uint16_t* bf16_row(int64_t r) const { return reinterpret_cast<const uint16_t*>(bytes.data()) + r * cols; }
  // The scale of element (r, c).
  float scale_of(int64_t r, int64_t c) const {
    return format == LowpFormat::E4M3 ? scale[(r / row_group) * col_tiles() + c / col_group] : 1.0f;
  }
};

// ops, or the calling thread alone when the work (elements, or multiply-adds) is small: every
// parallel region costs the pool a wake-up, which on a loaded machine outweighs microseconds of
// work, and a bf16 / fp8 Linear opens several (quantization, panel decode, the GEMM) per pass.
// Results do not depend on it: each element's arithmetic is the same on any thread.
inline Ops serial_below(const Ops& ops, int64_t work, int64_t threshold) {
  Ops o = ops;
  if (work < threshold) o.pool = nullptr;
  return o;
}
constexpr int64_t kLowpSerialElems = int64_t(1) << 16;  // quantization, decode: ~10-50 us of work
constexpr int64_t kLowpSerialMacs = int64_t(1) << 21;   // a GEMM: ~50 us on one core

// Round to nearest even, saturating at ±448 (f32_to_e4m3's result, by bit arithmetic; NaN not
// expected: the trainer stops on a non-finite loss first).
uint8_t e4m3_encode(float x);

// dst = src[rows, cols] (row stride ld) in `format`; E4M3 tiles are row_group x col_group (col_group
// 128, or 1 with row_group 128) with online scales. dst's storage is reused when large enough, so a
// step allocates only on its first call.
void lowp_quantize(const Ops& ops, LowpFormat format, int64_t row_group, const float* src, int64_t rows, int64_t cols,
                   int64_t ld, LowpMatrix& dst, int64_t col_group = kLowpBlock);
// dst = src[rows, cols]ᵀ (row stride cols) quantized as lowp_quantize would quantize the
// transposed matrix (row_group 1 or 128), without an f32 transpose in memory.
void lowp_quantize_transposed(const Ops& ops, LowpFormat format, int64_t row_group, const float* src, int64_t rows,
                              int64_t cols, LowpMatrix& dst);
// dst = mᵀ for m in 128x128 tiles (E4M3) or BF16: the same elements and block scales, transposed,
// so exactly what lowp_quantize_transposed makes of the f32 matrix m was quantized from.
void lowp_transpose(const Ops& ops, const LowpMatrix& m, LowpMatrix& dst);
// dst[rows, cols] = the values m represents (scale · decoded element).
void lowp_dequantize(const Ops& ops, const LowpMatrix& m, float* dst);

// The arithmetic a GEMM runs on. Scalar is the reference; Avx2 and Avx512 decode E4M3 exactly through
// the FP16 bit pattern (F16C / AVX-512 vcvtph2ps) and BF16 by a shift into f32 panels, and multiply
// with 8- / 16-wide f32 FMA (lowp_gemm_kernel.h). Not VDPBF16PS: on the Emerald Rapids machines
// this project measures on it issues at a quarter of the f32 FMA rate (1.3 vs 5.3 per ns, 16 vs 32
// lanes: half the products per second), and its pairwise sums would not equal the reference.
enum class LowpPath : uint8_t { Scalar, Avx2, Avx512 };
std::string_view lowp_path_name(LowpPath p);
bool lowp_path_supported(LowpPath p);
// The best supported path under FATHOM_ISA's cap (scalar -> Scalar, avx2 -> Avx2), chosen once.
LowpPath lowp_best_path();

// C[M, N] (+)= A · B as above; A is [M, K] (tiles 1 or 128 rows x 128 columns), B is [K, N] (tiles
// 128 rows x 1 or 128 columns), same format; C has row stride ldc.
void lowp_gemm(const Ops& ops, LowpPath path, const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc,
               bool accumulate);

namespace detail {
// The AVX-512 instance of lowp_gemm_kernel.h (lowp_gemm_avx512.cpp).
void lowp_gemm_avx512(const Ops& ops, const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc,
                      bool accumulate);
}  // namespace detail

}  // namespace fathom::train
