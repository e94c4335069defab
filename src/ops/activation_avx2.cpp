// AVX2 + FMA versions of ops/activation.h (the build's baseline ISA, so no extra flags).
#include <immintrin.h>

#include <cmath>

#include "ops/activation.h"
#include "ops/reference.h"
#include "ops/simd_exp.h"

namespace fathom::ops::detail {

void silu_mul_avx2(const float* gate, const float* up, int64_t n, float* y) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i), u = _mm256_loadu_ps(up + i);
    const __m256 e = simd::exp_any(_mm256_xor_ps(g, sign));  // e^-g
    _mm256_storeu_ps(y + i, _mm256_div_ps(_mm256_mul_ps(g, u), _mm256_add_ps(one, e)));
  }
  for (; i < n; ++i) y[i] = ref::silu(gate[i]) * up[i];
}

void softmax_avx2(float* x, int64_t n) {
  if (n <= 0) return;
  __m256 mv = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mv);
  float m = lanes[0];
  for (int k = 1; k < 8; ++k) m = std::fmax(m, lanes[k]);
  for (; i < n; ++i) m = std::fmax(m, x[i]);
  const __m256 vm = _mm256_set1_ps(m);
  double s = 0;
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = simd::exp_nonpos(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    _mm256_store_ps(lanes, e);
    for (int k = 0; k < 8; ++k) s += lanes[k];
  }
  for (; i < n; ++i) s += (x[i] = std::exp(x[i] - m));
  const __m256 inv = _mm256_set1_ps(float(1.0 / s));
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  for (; i < n; ++i) x[i] *= float(1.0 / s);
}

}  // namespace fathom::ops::detail
