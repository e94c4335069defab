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
#include "ops/gemv_row_groups.h"

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

// R rows at a time, chosen as the BF16 GEMV chooses them (gemv_row_groups.h): neighbours, or stripes
// in long rows. Each activation load serves all R rows; each row keeps its own block scales and forms
// its sum in the same order whatever R (two chains per block, the block sum scaled into the row's
// accumulator, one reduction at the end).

template <int NT, int R, bool kStripes>
void gemv(const WeightMatrix& W, const float* xs, float* Y, int64_t t0, int64_t r0, int64_t r1) {
  const int64_t K = W.cols, padded = fp8_act_floats(K), bc = W.block_cols, nbc = (K + bc - 1) / bc;
  const Tables& T = tables();
  const __m512i hi0 = _mm512_load_si512(T.hi), hi1 = _mm512_load_si512(T.hi + 64);
  const __m512i lo0 = _mm512_load_si512(T.lo), lo1 = _mm512_load_si512(T.lo + 64);
  const __m512i sign = _mm512_set1_epi8(int8_t(0x80)), high = _mm512_set1_epi32(int32_t(0xFFFF0000u));
  const float* x[NT];
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) x[t] = xs + (t0 + t) * padded;
  const uint8_t* base = static_cast<const uint8_t*>(W.data);
  const int64_t groups = gemv_row_groups(r0, r1, R);
  for (int64_t j = 0; j < groups; ++j) {
    const uint8_t* p[R];
    const float* scale[R];
    int64_t row[R];  // slot i's row, -1 past r1
    gemv_group_rows<R, kStripes>(r0, r1, groups, j, row);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const int64_t r = row[i] >= 0 ? row[i] : r1 - 1;
      p[i] = base + r * K;
      scale[i] = W.scale_inv + (r / W.block_rows) * nbc;
    }
    __m512 acc[NT][R];
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t)
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) acc[t][i] = _mm512_setzero_ps();
    for (int64_t k0 = 0, b = 0; k0 < K; k0 += bc, ++b) {
      const int64_t k1 = std::min(K, k0 + bc);
      __m512 s0[NT][R], s1[NT][R];
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t)
#pragma GCC unroll 4
        for (int i = 0; i < R; ++i) s0[t][i] = s1[t][i] = _mm512_setzero_ps();
      // 64 weights of each row at k, as loaded in v[i], against each token's reordered activations.
      auto chunk = [&](const __m512i* v, int64_t k) {
        __m512 w0[R], w1[R], w2[R], w3[R];
#pragma GCC unroll 4
        for (int i = 0; i < R; ++i) {
          const __m512i h = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(hi0, v[i], hi1), v[i], sign, 0xF8);  // a | (b & c)
          const __m512i l = _mm512_permutex2var_epi8(lo0, v[i], lo1);
          const __m512i wa = _mm512_unpacklo_epi8(l, h), wb = _mm512_unpackhi_epi8(l, h);
          w0[i] = _mm512_castsi512_ps(_mm512_slli_epi32(wa, 16));
          w1[i] = _mm512_castsi512_ps(_mm512_and_si512(wa, high));
          w2[i] = _mm512_castsi512_ps(_mm512_slli_epi32(wb, 16));
          w3[i] = _mm512_castsi512_ps(_mm512_and_si512(wb, high));
        }
#pragma GCC unroll 8
        for (int t = 0; t < NT; ++t) {
          const float* xk = x[t] + k;
          const __m512 x0 = _mm512_load_ps(xk), x1 = _mm512_load_ps(xk + 16);
          const __m512 x2 = _mm512_load_ps(xk + 32), x3 = _mm512_load_ps(xk + 48);
#pragma GCC unroll 4
          for (int i = 0; i < R; ++i) {
            s0[t][i] = _mm512_fmadd_ps(w0[i], x0, s0[t][i]);
            s1[t][i] = _mm512_fmadd_ps(w1[i], x1, s1[t][i]);
            s0[t][i] = _mm512_fmadd_ps(w2[i], x2, s0[t][i]);
            s1[t][i] = _mm512_fmadd_ps(w3[i], x3, s1[t][i]);
          }
        }
      };
      int64_t k = k0;
      for (; k + 64 <= k1; k += 64) {
        __m512i v[R];
#pragma GCC unroll 4
        for (int i = 0; i < R; ++i) {
          _mm_prefetch(reinterpret_cast<const char*>(p[i] + k) + kPrefetchBytes, _MM_HINT_T0);
          v[i] = _mm512_loadu_si512(p[i] + k);
        }
        chunk(v, k);
      }
      if (k < k1) {  // the row's last, partial chunk: bytes past K read as 0 (weight +0, activation 0)
        __m512i v[R];
#pragma GCC unroll 4
        for (int i = 0; i < R; ++i) v[i] = _mm512_maskz_loadu_epi8(mask64(k1 - k), p[i] + k);
        chunk(v, k);
      }
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) {
        const __m512 sc = _mm512_set1_ps(scale[i][b]);
#pragma GCC unroll 8
        for (int t = 0; t < NT; ++t) acc[t][i] = _mm512_fmadd_ps(_mm512_add_ps(s0[t][i], s1[t][i]), sc, acc[t][i]);
      }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t)
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i)
        if (row[i] >= 0) Y[(t0 + t) * W.rows + row[i]] = _mm512_reduce_add_ps(acc[t][i]);
  }
}

// nt (1..4) tokens from t0: the accumulators (3 * R * nt) and the decoded weights (4 * R) must fit
// the 32 registers next to the 6 constants.
template <bool kStripes>
void gemv_tokens(int64_t nt, const WeightMatrix& W, const float* xs, float* Y, int64_t t0, int64_t r0, int64_t r1) {
  switch (nt) {
    case 1: gemv<1, 4, kStripes>(W, xs, Y, t0, r0, r1); break;
    case 2: gemv<2, 2, kStripes>(W, xs, Y, t0, r0, r1); break;
    case 3: gemv<3, 2, kStripes>(W, xs, Y, t0, r0, r1); break;
    default: gemv<4, 1, kStripes>(W, xs, Y, t0, r0, r1); break;
  }
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
    const int64_t nt = std::min<int64_t>(4, n - t0);
    if (W.cols >= kStripeMinCols)
      gemv_tokens<true>(nt, W, xs, Y, t0, r0, r1);
    else
      gemv_tokens<false>(nt, W, xs, Y, t0, r0, r1);
  }
}

}  // namespace fathom::ops::detail
