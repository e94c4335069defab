// The F8_E4M3 decode GEMV with byte table lookups (AVX512-VBMI: Ice Lake and later), exact like the
// f16 route of gemv_float_avx512.cpp but with about two thirds of its instructions per weight,
// which is what lets it keep up with the memory's read rate.
//
// Every e4m3 value is a bf16 (at most 4 significant bits, exponents 2^-9 .. 2^8), and a bf16 is the
// top half of an f32. Two vpermi2b look the 7 bits below the sign up in 128-entry tables of the
// bf16's high and low bytes (the sign is or'ed into the high byte); interleaving the two byte
// vectors gives 32-bit lanes holding two bf16 each, whose halves become f32 by a shift or a mask,
// as in the BF16 GEMV. The lanes then hold the weights of a 64-column chunk in a fixed permuted
// order; prepare_fp8_act stores the activations in the same order, so the FMAs need no shuffles.
// The block scale multiplies each block's sum once.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "core/dtype.h"
#include "ops/gemv_float.h"
#include "ops/gemv_fp8_rows.h"

namespace fathom::ops::detail {
namespace {

constexpr int64_t kPrefetchBytes = 3072;

// Where weight j of a 64-column chunk lands: vector v (0..3) lane d. unpacklo/hi_epi8 work per
// 128-bit lane L (columns 16L..16L+15): the low unpack takes its first 8 columns, the high one the
// last 8, as 16-bit words; the shift takes the even words of each dword, the mask the odd ones.
constexpr int chunk_column(int v, int d) {
  const int lane = d / 4, i = d % 4;
  return 16 * lane + (v >= 2 ? 8 : 0) + 2 * i + (v & 1);
}

// The high and low bytes of each e4m3 magnitude's bf16 bits (the f32's top half; the low half is 0).
struct Tables {
  alignas(64) uint8_t hi[128], lo[128];
  Tables() {
    for (int r = 0; r < 128; ++r) {
      uint32_t u;
      std::memcpy(&u, &kE4M3ToF32[size_t(r)], 4);
      hi[r] = uint8_t(u >> 24);
      lo[r] = uint8_t(u >> 16);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

inline __mmask64 mask64(int64_t n) { return n >= 64 ? ~__mmask64(0) : n <= 0 ? 0 : (__mmask64(1) << n) - 1; }

template <int NT>
void gemv(const WeightMatrix& W, const float* xs, float* Y, int64_t t0, int64_t r0, int64_t r1) {
  const int64_t K = W.cols, padded = fp8_act_floats(K);
  const Tables& T = tables();
  const __m512i hi0 = _mm512_load_si512(T.hi), hi1 = _mm512_load_si512(T.hi + 64);
  const __m512i lo0 = _mm512_load_si512(T.lo), lo1 = _mm512_load_si512(T.lo + 64);
  const __m512i sign = _mm512_set1_epi8(int8_t(0x80)), high = _mm512_set1_epi32(int32_t(0xFFFF0000u));
  const float* x[NT];
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) x[t] = xs + (t0 + t) * padded;
  fp8_gemv_rows<NT>(W, 1.0f, Y, t0, r0, r1, [&](const uint8_t* p, int64_t k0, int64_t k1, __m512* s0, __m512* s1) {
    for (int64_t k = k0; k < k1; k += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(p + k) + kPrefetchBytes, _MM_HINT_T0);
      // Past K (the row's last chunk) the bytes read as 0: weight +0 against activations 0.
      const __m512i v = k + 64 <= K ? _mm512_loadu_si512(p + k) : _mm512_maskz_loadu_epi8(mask64(K - k), p + k);
      const __m512i h = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(hi0, v, hi1), v, sign, 0xF8);  // a | (b & c)
      const __m512i l = _mm512_permutex2var_epi8(lo0, v, lo1);
      const __m512i wa = _mm512_unpacklo_epi8(l, h), wb = _mm512_unpackhi_epi8(l, h);
      const __m512 w0 = _mm512_castsi512_ps(_mm512_slli_epi32(wa, 16));
      const __m512 w1 = _mm512_castsi512_ps(_mm512_and_si512(wa, high));
      const __m512 w2 = _mm512_castsi512_ps(_mm512_slli_epi32(wb, 16));
      const __m512 w3 = _mm512_castsi512_ps(_mm512_and_si512(wb, high));
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        const float* xk = x[t] + k;
        s0[t] = _mm512_fmadd_ps(w0, _mm512_load_ps(xk), s0[t]);
        s1[t] = _mm512_fmadd_ps(w1, _mm512_load_ps(xk + 16), s1[t]);
        s0[t] = _mm512_fmadd_ps(w2, _mm512_load_ps(xk + 32), s0[t]);
        s1[t] = _mm512_fmadd_ps(w3, _mm512_load_ps(xk + 48), s1[t]);
      }
    }
  });
}

}  // namespace

void prepare_fp8_act(const WeightMatrix& W, const float* X, int64_t n, float* xs) {
  const int64_t K = W.cols, padded = fp8_act_floats(K);
  alignas(64) int32_t idx[64];
  for (int v = 0; v < 4; ++v)
    for (int d = 0; d < 16; ++d) idx[16 * v + d] = chunk_column(v, d);
  for (int64_t t = 0; t < n; ++t) {
    const float* x = X + t * K;
    float* out = xs + t * padded;
    for (int64_t k = 0; k < padded; k += 64)
      for (int j = 0; j < 64; ++j) out[k + j] = k + idx[j] < K ? x[k + idx[j]] : 0.0f;
  }
}

void gemv_fp8_vbmi_rows(const WeightMatrix& W, const void* prep, int64_t n, float* Y, int64_t r0, int64_t r1) {
  const float* xs = static_cast<const float*>(prep);
  for (int64_t t0 = 0; t0 < n; t0 += 4) {
    switch (std::min<int64_t>(4, n - t0)) {
      case 1: gemv<1>(W, xs, Y, t0, r0, r1); break;
      case 2: gemv<2>(W, xs, Y, t0, r0, r1); break;
      case 3: gemv<3>(W, xs, Y, t0, r0, r1); break;
      default: gemv<4>(W, xs, Y, t0, r0, r1); break;
    }
  }
}

}  // namespace fathom::ops::detail
