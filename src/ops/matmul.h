// Fast matrix products Y = X · Wᵀ over every weight format, dispatched at run time to the best kernel
// family this CPU has (cpu::active_isa(); FATHOM_ISA caps it). Semantics are exactly ops::ref::matmul;
// the fast paths differ only by rounding, within the tolerances stated below and held by
// tests/ops_matmul_test.cpp:
//   float formats (F32/F16/BF16/F8_*), every path: weights decoded exactly to f32, f32 FMA
//                                          accumulation: relative L2 error of Y < 1e-5.
//   Q8_0/Q4_0, n <= kGemvMaxTokens:      activations quantized per 32-block to int8 (amax/127),
//                                          int8 dot products: relative L2 error < 1e-2 against
//                                          the reference on the same (already quantized) weights.
//   Q8_0/Q4_0, n > kGemvMaxTokens:       AVX-512 (VNNI): int8 activations as above, < 1e-2.
//                                          AVX2: weights decoded to f32 panels, < 1e-5.
//   F8_E4M3, n > kGemvMaxTokens, AVX-512 (block_cols a multiple of 32): each row panel re-quantized
//                                          on the fly to Q8_0 blocks (int8 per 32 weights, amax/127)
//                                          and run as Q8_0 with int8 activations: < 1e-2 against the
//                                          reference on the FP8 weights. Up to
//                                          kFp8GemvSplitMaxTokens tokens (decode batches, MTP
//                                          verification) take the exact GEMV instead, in groups of
//                                          at most kGemvMaxTokens tokens.
// Decode (n <= kGemvMaxTokens) streams each weight row once (GEMV); prefill tiles over rows, columns
// and tokens so each decoded weight panel serves all tokens (GEMM).
#pragma once
#include <cstdint>
#include <span>

#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"
#include "ops/weight.h"

namespace fathom::ops {

constexpr int64_t kGemvMaxTokens = 8;
// F8_E4M3 products of kGemvMaxTokens < n <= this many tokens run as GEMVs over groups of at most
// kGemvMaxTokens tokens rather than as the int8 GEMM: at these sizes re-quantizing every weight
// panel costs about what re-reading the weights does, and each token's result is then bit-identical
// to its one-token product, which is what keeps a speculative verification or a server's decode
// batch giving exactly the tokens of one-token decode.
constexpr int64_t kFp8GemvSplitMaxTokens = 32;

// Y[n, W.rows] = X[n, W.cols] · Wᵀ. Rows are split across pool's threads (pool == nullptr: the
// calling thread alone).
void matmul(const WeightMatrix& W, const float* X, int64_t n, float* Y, cpu::ThreadPool* pool);

// Independent products run in one parallel region, threads splitting the union of their rows:
// the experts of a MoE layer (each with its own token group), or the gate and up projections.
struct MatmulJob {
  const WeightMatrix* W;
  const float* X;  // [n, W->cols]
  int64_t n;
  float* Y;        // [n, W->rows]
};
void matmul_batch(std::span<const MatmulJob> jobs, cpu::ThreadPool* pool);

// The same on an explicit kernel family (tests, benchmarks). Fails if this CPU lacks it.
void matmul_batch(cpu::Isa isa, std::span<const MatmulJob> jobs, cpu::ThreadPool* pool);
void matmul(cpu::Isa isa, const WeightMatrix& W, const float* X, int64_t n, float* Y,
            cpu::ThreadPool* pool);

}  // namespace fathom::ops
