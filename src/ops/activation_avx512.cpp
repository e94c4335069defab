// AVX-512 versions of ops/activation.h; tails are masked, so there is no scalar remainder.
// GCC 12's _mm512_reduce_* intrinsics start from _mm256_undefined_ps() and warn about it in callers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "ops/activation.h"
#include "ops/simd_exp.h"

namespace fathom::ops::detail {
namespace {
inline __mmask16 tail(int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1); }
}  // namespace

void silu_mul_avx512(const float* gate, const float* up, int64_t n, float* y) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(k, gate + i), u = _mm512_maskz_loadu_ps(k, up + i);
    const __m512 e = simd::exp_any(_mm512_sub_ps(_mm512_setzero_ps(), g));  // e^-g
    _mm512_mask_storeu_ps(y + i, k, _mm512_div_ps(_mm512_mul_ps(g, u), _mm512_add_ps(one, e)));
  }
}

void softmax_avx512(float* x, int64_t n) {
  if (n <= 0) return;
  __m512 mv = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16) mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail(n - i), x + i));
  const float m = _mm512_reduce_max_ps(mv);
  const __m512 vm = _mm512_set1_ps(m);
  // Per-lane f32 partial sums over at most 16 blocks of 16, then into double: the sum keeps the
  // reference's precision on long rows.
  double s = 0;
  __m512 part = _mm512_setzero_ps();
  for (int64_t i = 0, blocks = 0; i < n; i += 16) {
    const __mmask16 k = tail(n - i);
    const __m512 e = simd::exp_nonpos(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm));
    _mm512_mask_storeu_ps(x + i, k, e);
    part = _mm512_add_ps(part, _mm512_maskz_mov_ps(k, e));
    if (++blocks == 16) {
      s += double(_mm512_reduce_add_ps(part));
      part = _mm512_setzero_ps();
      blocks = 0;
    }
  }
  s += double(_mm512_reduce_add_ps(part));
  const __m512 inv = _mm512_set1_ps(float(1.0 / s));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail(n - i);
    _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
  }
}

}  // namespace fathom::ops::detail
