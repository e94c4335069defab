// Internal: the int8-activation prefill GEMMs. The AVX-512 VNNI one for Q8_0 / Q4_0 weights (int8 activations), used by the
// AVX-512 matmul kernels for n > kGemvMaxTokens; it also takes F8_E4M3 weights whose block_cols is a
// multiple of 32, converting each row panel to Q8_0 blocks as it goes (no copy of the matrix kept;
// the same tolerance). Same two phases as MatmulKernels: prepare() once per
// X, rows() on disjoint row ranges from several threads. Tolerance (the Q-format int8-activation one
// of ops/matmul.h): relative L2 error of Y < 1e-2 against the reference on the same weights.
#pragma once
#include <cstddef>
#include <cstdint>

#include "ops/weight.h"

namespace fathom::ops::detail {

size_t gemm_i8_prep_bytes(const WeightMatrix& W, int64_t n);
void gemm_i8_prepare(const WeightMatrix& W, const float* X, int64_t n, void* prep);
void gemm_i8_rows(const WeightMatrix& W, const void* prep, int64_t n, float* Y, int64_t r0, int64_t r1);

// Rows per panel of gemm_i8_rows (its tile height).
constexpr int64_t kPanelRows = 4;

// F8_E4M3 row `row`, blocks [b0, b1) of 32 columns (b1 - b0 <= 64), as Q8_0 blocks in natural order:
// wdst[(b - b0) * 32 + j] = 128 + q, d[b - b0] its scale (gemm_fp8_q8_avx512vbmi.cpp; call only when
// cpu::kernel_isa_supported(KernelIsa::avx512vbmi)). Prefetches the same columns of row + kPanelRows.
void fp8_rows_to_q8_vbmi(const WeightMatrix& W, int64_t row, int64_t b0, int64_t b1, uint8_t* wdst, float* d);

// The AVX2 counterpart for Q4_0 only (gemm_q4_avx2.cpp: maddubs cannot saturate on nibbles; Q8_0
// would, so AVX2 keeps Q8_0 prefill on f32 panels). Same phases, same tolerance.
size_t gemm_q4_avx2_prep_bytes(const WeightMatrix& W, int64_t n);
void gemm_q4_avx2_prepare(const WeightMatrix& W, const float* X, int64_t n, void* prep);
void gemm_q4_avx2_rows(const WeightMatrix& W, const void* prep, int64_t n, float* Y, int64_t r0, int64_t r1);

}  // namespace fathom::ops::detail
