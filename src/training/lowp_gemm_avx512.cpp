// The AVX-512 instance of the low-precision GEMM (lowp_gemm_kernel.h): 16 f32 lanes, E4M3 decoded
// exactly through the FP16 bit pattern and vcvtph2ps, BF16 by a shift.
// GCC 12's _mm512_cvtph_ps starts from an undefined vector and warns in callers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "training/lowp_gemm_kernel.h"

namespace fathom::train::detail {

namespace {

struct Avx512 {
  using vec = __m512;
  static constexpr int64_t W = 16, MR = 6;
  static vec zero() { return _mm512_setzero_ps(); }
  static vec set1(float x) { return _mm512_set1_ps(x); }
  static vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, vec v) { _mm512_storeu_ps(p, v); }
  static vec fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static vec mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
  static __mmask16 mask(int64_t n) { return __mmask16((1u << n) - 1u); }
  static vec load_partial(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store_partial(float* p, vec v, int64_t n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  // E4M3 S.EEEE.MMM as the FP16 S.0EEEE.MMM0000000 is the value times 2^-8; times 2^8 is exact.
  static vec e4m3(const uint8_t* src) {
    const __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
    const __m256i h = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x80)), 8),
                                      _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7f)), 7));
    return _mm512_mul_ps(_mm512_cvtph_ps(h), _mm512_set1_ps(256.0f));
  }
  static vec bf16(const uint16_t* src) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
  }
};

}  // namespace

void lowp_gemm_avx512(const Ops& ops, const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc,
                      bool accumulate) {
  lowp_kernel::gemm<Avx512>(ops, A, B, C, ldc, accumulate);
}

}  // namespace fathom::train::detail
