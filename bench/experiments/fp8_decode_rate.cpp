// Timing behind docs/PERFORMANCE.md run 20: how many F8_E4M3 weights one core can decode and
// multiply per second with the operands already in registers, i.e. the compute ceiling of the
// AVX-512 FP8 decode GEMV, for the two exact decoders fathom has:
//   vbmi  two vpermi2b table lookups (bf16 high and low bytes), sign or'ed in, bytes interleaved,
//         split into f32 lanes by a shift and a mask (src/ops/gemv_fp8_avx512vbmi.cpp);
//   f16   sign-extend to 16 bits, shift and mask to the f16 of 2^-8 times the value, vcvtph2ps
//         (src/ops/gemv_float_avx512.cpp);
//   fma   the four FMAs per 64 weights alone (no decode), for scale.
// Four independent rows, two accumulation chains each, as the GEMV runs them. Not part of the
// build:
//   g++ -O2 -march=native -std=c++20 bench/experiments/fp8_decode_rate.cpp -o build/fp8_decode_rate \
//       && build/fp8_decode_rate
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace {

enum class Decoder { vbmi, f16, fma };

template <Decoder D>
double ns_per_64_weights(int64_t iterations) {
  const __m512i hi0 = _mm512_set1_epi8(0x3c), hi1 = _mm512_set1_epi8(0x40), lo0 = _mm512_set1_epi8(0x20),
                lo1 = _mm512_set1_epi8(0x10);
  const __m512i sign = _mm512_set1_epi8(int8_t(0x80)), high = _mm512_set1_epi32(int32_t(0xFFFF0000u));
  const __m512i f16_mask = _mm512_set1_epi16(int16_t(0xBF80));
  const __m512 x0 = _mm512_set1_ps(1.0f), x1 = _mm512_set1_ps(0.5f), x2 = _mm512_set1_ps(0.25f),
               x3 = _mm512_set1_ps(2.0f);
  __m512 s[8];
  for (auto& v : s) v = _mm512_setzero_ps();
  __m512i w[4];
  for (int i = 0; i < 4; ++i) w[i] = _mm512_set1_epi8(int8_t(0x31 + i));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t n = 0; n < iterations; ++n) {
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      __m512i v = w[i];
      asm volatile("" : "+v"(v));  // a fresh load's worth of bytes each time
      __m512 w0, w1, w2, w3;
      if constexpr (D == Decoder::vbmi) {
        const __m512i h = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(hi0, v, hi1), v, sign, 0xF8);
        const __m512i l = _mm512_permutex2var_epi8(lo0, v, lo1);
        const __m512i wa = _mm512_unpacklo_epi8(l, h), wb = _mm512_unpackhi_epi8(l, h);
        w0 = _mm512_castsi512_ps(_mm512_slli_epi32(wa, 16));
        w1 = _mm512_castsi512_ps(_mm512_and_si512(wa, high));
        w2 = _mm512_castsi512_ps(_mm512_slli_epi32(wb, 16));
        w3 = _mm512_castsi512_ps(_mm512_and_si512(wb, high));
      } else if constexpr (D == Decoder::f16) {
        const __m512i a = _mm512_and_si512(_mm512_slli_epi16(_mm512_cvtepi8_epi16(_mm512_castsi512_si256(v)), 7), f16_mask);
        const __m512i b =
            _mm512_and_si512(_mm512_slli_epi16(_mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(v, 1)), 7), f16_mask);
        w0 = _mm512_cvtph_ps(_mm512_castsi512_si256(a));
        w1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(a, 1));
        w2 = _mm512_cvtph_ps(_mm512_castsi512_si256(b));
        w3 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(b, 1));
      } else {
        w0 = w1 = w2 = w3 = _mm512_castsi512_ps(v);
      }
      s[2 * i] = _mm512_fmadd_ps(w0, x0, s[2 * i]);
      s[2 * i + 1] = _mm512_fmadd_ps(w1, x1, s[2 * i + 1]);
      s[2 * i] = _mm512_fmadd_ps(w2, x2, s[2 * i]);
      s[2 * i + 1] = _mm512_fmadd_ps(w3, x3, s[2 * i + 1]);
    }
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  float keep = 0;
  for (auto& v : s) keep += _mm512_reduce_add_ps(v);
  if (keep == 1.2345f) std::puts("");  // keeps the sums alive
  return ns / double(iterations * 4);
}

}  // namespace

int main() {
  const int64_t iterations = 50'000'000;
  for (int round = 0; round < 3; ++round) {
    const double vbmi = ns_per_64_weights<Decoder::vbmi>(iterations);
    const double f16 = ns_per_64_weights<Decoder::f16>(iterations);
    const double fma = ns_per_64_weights<Decoder::fma>(iterations);
    std::printf("round %d, GB/s of F8_E4M3 weights on one core: vbmi %.1f  f16 %.1f  fma-only %.1f\n", round + 1,
                64 / vbmi, 64 / f16, 64 / fma);
  }
}
