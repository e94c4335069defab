// Internal, for AVX-512 kernel files only (zmm types): the walk over rows and 128x128 scale blocks
// of the f16-route F8_E4M3 decode GEMV (gemv_float_avx512.cpp). Each block's
// products are summed unscaled by the kernel's block_sums, and the block scale (times scale_factor,
// the kernel's decoding factor) multiplies the sum once per block.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "ops/weight.h"

namespace fathom::ops::detail {

// block_sums(p, k0, k1, s0, s1): adds the products of columns [k0, k1) of the row at p into s0 / s1
// (NT tokens each; two chains to hide FMA latency).
template <int NT, typename BlockSums>
inline void fp8_gemv_rows(const WeightMatrix& W, float scale_factor, float* Y, int64_t t0, int64_t r0, int64_t r1,
                          BlockSums&& block_sums) {
  const int64_t K = W.cols, bc = W.block_cols, nbc = (K + bc - 1) / bc;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* p = static_cast<const uint8_t*>(W.data) + r * K;
    const float* scale = W.scale_inv + (r / W.block_rows) * nbc;
    __m512 acc[NT];
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t k0 = 0, b = 0; k0 < K; k0 += bc, ++b) {
      __m512 s0[NT], s1[NT];
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) s0[t] = s1[t] = _mm512_setzero_ps();
      block_sums(p, k0, std::min(K, k0 + bc), s0, s1);
      const __m512 sc = _mm512_set1_ps(scale[b] * scale_factor);
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) acc[t] = _mm512_fmadd_ps(_mm512_add_ps(s0[t], s1[t]), sc, acc[t]);
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) Y[(t0 + t) * W.rows + r] = _mm512_reduce_add_ps(acc[t]);
  }
}

}  // namespace fathom::ops::detail
