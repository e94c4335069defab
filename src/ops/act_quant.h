// One 32-block of activations quantized to int8, as the int8 kernels of the AVX2 baseline consume
// it (the decode GEMV of matmul_avx2.cpp, the Q4_0 prefill GEMM of gemm_q4_avx2.cpp):
// q = round(x / dx) to nearest even, dx = amax / 127. Each caller stores q in its own layout.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace fathom::ops::detail {

// x[0, len) with len <= 32 (the rest of the block counts as zero). Writes q[32], returns dx and
// sets sum = Σ q (the Q formats' offset terms need it).
inline float quantize_act_block(const float* x, int64_t len, int32_t q[32], int32_t& sum) {
  float v[32] = {};
  std::memcpy(v, x, size_t(std::min<int64_t>(32, len)) * sizeof(float));
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < 32; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(v + i), abs_mask));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  const __m256 inv = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
  __m256i s = _mm256_setzero_si256();
  for (int j = 0; j < 4; ++j) {
    const __m256i i = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + 8 * j), inv));  // nearest even
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 8 * j), i);
    s = _mm256_add_epi32(s, i);
  }
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
  sum = _mm_cvtsi128_si32(s4);
  return amax / 127.0f;
}

}  // namespace fathom::ops::detail
