// Internal: the per-ISA entry points behind ops::matmul (matmul.cpp fills a table from these).
// A product runs in two phases: prepare() once per X (e.g. quantize activations for int8 dot
// products), then rows() on disjoint row ranges, concurrently from several threads.
#pragma once
#include <cstddef>
#include <cstdint>

#include "ops/weight.h"

namespace fathom::ops::detail {

struct MatmulKernels {
  // Bytes of scratch prepare() fills for this W and n (0: none); 64-byte aligned by the caller.
  size_t (*prep_bytes)(const WeightMatrix& W, int64_t n);
  void (*prepare)(const WeightMatrix& W, const float* X, int64_t n, void* prep);
  // Y[t, r] for t < n, r0 <= r < r1 (Y row stride W.rows). r0 is a multiple of kRowAlign, or of
  // kGemvRowAlign when n <= kGemvMaxTokens (every kernel takes any r0; these only keep ranges whole).
  void (*rows)(const WeightMatrix& W, const float* X, const void* prep, int64_t n, float* Y,
               int64_t r0, int64_t r1);
};

// Row ranges handed to rows() start at multiples of this (a GEMM panel height).
constexpr int64_t kRowAlign = 64;
// ... and for products of a few tokens (GEMV), which walk rows one at a time.
constexpr int64_t kGemvRowAlign = 16;

const MatmulKernels& scalar_kernels();
const MatmulKernels& avx2_kernels();
const MatmulKernels& avx512_kernels();

}  // namespace fathom::ops::detail
