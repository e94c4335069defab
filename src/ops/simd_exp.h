// Vectorized e^x for the fast kernels (latent attention's online softmax, SiLU, softmax).
// x = n·ln2 + r with |r| <= ln2/2 (ln2 split into a part exact in f32 and the rest), e^r by a
// degree-6 polynomial in Horner order (relative error ~2e-7, a few ulp), scaled by 2^n.
// The AVX2 and AVX-512 versions are defined only where their instructions are enabled: the AVX2 ones
// everywhere (the build's baseline is x86-64-v3), the AVX-512 ones in *_avx512.cpp files.
#pragma once
#include <immintrin.h>

#include <iterator>

namespace fathom::ops::simd {

inline constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693145751953125f,
                       kLn2Lo = 1.428606765330187045e-06f;
inline constexpr float kExpPoly[] = {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};

// x = n·ln2 + r: returns e^r and sets n (x already clamped by the caller).
inline __m256 exp_reduce(__m256 x, __m256& n) {
  n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x));
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
  for (size_t i = 1; i < std::size(kExpPoly); ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
  return p;
}
// 2^n as a float for integral n in [-126, 127] (built in the exponent field).
inline __m256 pow2(__m256i n) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

// e^x for x <= 0 (softmax arguments: score - running max); x >= -87 keeps n a normal exponent,
// below that the result is 0 to f32 precision anyway.
inline __m256 exp_nonpos(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.0f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  __m256 n;
  const __m256 p = exp_reduce(_mm256_max_ps(x, lo), n);
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, pow2(_mm256_cvtps_epi32(n))));
}

// e^x for any x: +inf above ln(FLT_MAX), subnormals and then 0 below, NaN stays NaN. x is clamped
// to [-104, 88.72] (n in [-150, 128]) and 2^n applied as two factors 2^(n/2), each a normal float.
inline __m256 exp_any(__m256 x) {
  __m256 n;
  const __m256 p =
      exp_reduce(_mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(88.72283f)), n);
  const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1);
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, pow2(n1)), pow2(_mm256_sub_epi32(ni, n1)));
  y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x, _mm256_set1_ps(88.72284f), _CMP_GT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

#ifdef __AVX512F__
// e^r with n, as above; scalef applies 2^n over the whole range (subnormals, overflow to inf).
inline __m512 exp_reduce(__m512 x, __m512& n) {
  n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x));
  __m512 p = _mm512_set1_ps(kExpPoly[0]);
  for (size_t i = 1; i < std::size(kExpPoly); ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPoly[i]));
  return p;
}

// e^x for x <= 0; very negative x (and -inf) give 0.
inline __m512 exp_nonpos(__m512 x) {
  __m512 n;
  const __m512 p = exp_reduce(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), n);
  return _mm512_scalef_ps(p, n);
}

// e^x for any x (x clamped to [-104, 89] so that n stays small); NaN is restored at the end.
inline __m512 exp_any(__m512 x) {
  __m512 n;
  const __m512 p = exp_reduce(_mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f)), n);
  return _mm512_mask_mov_ps(_mm512_scalef_ps(p, n), _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}
#endif

}  // namespace fathom::ops::simd
