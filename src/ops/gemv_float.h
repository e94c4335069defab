// Internal: the AVX-512 decode GEMVs for F8_E4M3 and BF16 weights (gemv_float_avx512.cpp, and
// gemv_fp8_avx512vbmi.cpp where the CPU has VBMI), used by the AVX-512 matmul kernels for
// n <= kGemvMaxTokens. Exact: the float-format tolerance of ops/matmul.h.
#pragma once
#include <cstdint>

#include "ops/weight.h"

namespace fathom::ops::detail {

// BF16 needs its activations reordered (prepare_bf16_act): floats per token, cols rounded up to 32.
inline int64_t bf16_act_floats(int64_t cols) { return (cols + 31) / 32 * 32; }
// xs[n * bf16_act_floats(W.cols)], 64-byte aligned: per 32 columns the even ones, then the odd ones,
// zero past cols.
void prepare_bf16_act(const WeightMatrix& W, const float* X, int64_t n, float* xs);

// Y[t, r] for t < n <= kGemvMaxTokens, r0 <= r < r1, W F8_E4M3 (block_cols a multiple of 16) or BF16
// (prep: the activations of prepare_bf16_act).
void gemv_float_rows(const WeightMatrix& W, const float* X, const void* prep, int64_t n, float* Y, int64_t r0,
                     int64_t r1);

// F8_E4M3 with VBMI, for block_cols a multiple of 64 (call only when
// cpu::kernel_isa_supported(KernelIsa::avx512vbmi)): activations reordered per 64 columns
// (prepare_fp8_act, xs[n * fp8_act_floats(W.cols)], 64-byte aligned, zero past cols).
inline int64_t fp8_act_floats(int64_t cols) { return (cols + 63) / 64 * 64; }
void prepare_fp8_act(const WeightMatrix& W, const float* X, int64_t n, float* xs);
void gemv_fp8_vbmi_rows(const WeightMatrix& W, const void* prep, int64_t n, float* Y, int64_t r0, int64_t r1);

}  // namespace fathom::ops::detail
