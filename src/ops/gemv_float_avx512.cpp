// AVX-512 decode GEMVs (n <= kGemvMaxTokens) for the two checkpoint formats most models ship in,
// F8_E4M3 with 128x128 block scales and BF16, written to stream weights at the memory's read rate.
// Both stay exact (weights decoded bit for bit to f32, f32 FMA accumulation: the float-format
// tolerance of ops/matmul.h).
//
// F8_E4M3: 32 bytes are sign-extended to 16-bit words in one instruction; a shift and a mask make
// each word the f16 whose value is 2^-8 of the e4m3 one (normals and subnormals alike: the sign
// lands in bit 15, exponent and mantissa in bits 14..7 shifted as a whole), and cvtph2ps widens
// 16 at a time. A block's products are summed unscaled and the block scale (times 2^8) is applied
// once per block of block_cols, not once per load.
//
// BF16: a bf16 is the top half of an f32. A 64-byte load holds 32 weights as 16 dwords; the odd
// weights are the dwords masked to their high halves, the even ones the dwords shifted left by
// 16. prepare() stores each token's activations in the matching order (per 32 columns: the 16
// even ones, then the 16 odd ones), so a 64-byte load costs two ALU ops and two FMAs per token.
//
// Both prefetch the weight stream a few KiB ahead: with the decode work interleaved between loads,
// the hardware prefetcher alone keeps too few lines in flight (as for the Q8_0 GEMV).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "ops/gemv_float.h"
#include "ops/gemv_row_groups.h"
#include "ops/matmul.h"

namespace fathom::ops::detail {
namespace {

constexpr int64_t kPrefetchBytes = 3072;

inline __mmask16 mask16(int64_t n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }
inline __mmask32 mask32(int64_t n) { return n >= 32 ? ~__mmask32(0) : n <= 0 ? 0 : __mmask32((1u << n) - 1); }

inline void prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p) + kPrefetchBytes, _MM_HINT_T0); }

// The walk over rows and 128x128 scale blocks of the F8_E4M3 GEMV: each block's products are summed
// unscaled by block_sums, and the block scale (times scale_factor, the decoding factor) multiplies the
// sum once per block.
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

// Sign-extended e4m3 bytes (16-bit words) -> f16 bits of 2^-8 times their value.
inline __m512i e4m3_to_f16_bits(__m512i s) {
  return _mm512_and_si512(_mm512_slli_epi16(s, 7), _mm512_set1_epi16(int16_t(0xBF80)));
}
inline __m256i e4m3_to_f16_bits(__m256i s) {
  return _mm256_and_si256(_mm256_slli_epi16(s, 7), _mm256_set1_epi16(int16_t(0xBF80)));
}

template <int NT>
void gemv_e4m3(const WeightMatrix& W, const float* X, float* Y, int64_t t0, int64_t r0, int64_t r1) {
  const int64_t K = W.cols;
  const float* x[NT];
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) x[t] = X + (t0 + t) * K;
  // 256: the decoded values are 2^-8 of the e4m3 ones.
  fp8_gemv_rows<NT>(W, 256.0f, Y, t0, r0, r1, [&](const uint8_t* p, int64_t k0, int64_t k1, __m512* s0, __m512* s1) {
    int64_t k = k0;
    for (; k + 64 <= k1; k += 64) {
      prefetch(p + k);
      const __m512i h0 = e4m3_to_f16_bits(_mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k))));
      const __m512i h1 =
          e4m3_to_f16_bits(_mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k + 32))));
      const __m512 w0 = _mm512_cvtph_ps(_mm512_castsi512_si256(h0)), w1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h0, 1));
      const __m512 w2 = _mm512_cvtph_ps(_mm512_castsi512_si256(h1)), w3 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h1, 1));
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        s0[t] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x[t] + k), s0[t]);
        s1[t] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x[t] + k + 16), s1[t]);
        s0[t] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(x[t] + k + 32), s0[t]);
        s1[t] = _mm512_fmadd_ps(w3, _mm512_loadu_ps(x[t] + k + 48), s1[t]);
      }
    }
    for (; k < k1; k += 16) {  // a partial block (the row's last) or block_cols not a multiple of 64
      const __mmask16 m = mask16(k1 - k);
      const __m256i h = e4m3_to_f16_bits(_mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(m, p + k)));
      const __m512 w = _mm512_cvtph_ps(h);
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) s0[t] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m, x[t] + k), s0[t]);
    }
  });
}

// Four rows' sums (v0..v3, 16 partial sums each) in one reduction, lane i of the result row i: fewer
// shuffles than four separate reductions. Every token count and row group uses this same order, so
// a token's outputs do not depend on what else is in the batch (a speculative verify of several
// tokens equals one-token decode bit for bit).
inline __m128 reduce4(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
  // Per 128-bit lane: [v0[0]+v0[2], v1[0]+v1[2], v0[1]+v0[3], v1[1]+v1[3]], and the same for v2, v3.
  const __m512d s01 = _mm512_castps_pd(_mm512_add_ps(_mm512_unpacklo_ps(v0, v1), _mm512_unpackhi_ps(v0, v1)));
  const __m512d s23 = _mm512_castps_pd(_mm512_add_ps(_mm512_unpacklo_ps(v2, v3), _mm512_unpackhi_ps(v2, v3)));
  // Per 128-bit lane: [sum v0, sum v1, sum v2, sum v3] over that lane's four elements.
  const __m512 s = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(s01, s23)),
                                 _mm512_castpd_ps(_mm512_unpackhi_pd(s01, s23)));
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// Activations in prepare_bf16's order: token t's 32-column chunk c at xs + t * padded + 32 * c.
// R rows at a time, chosen by gemv_row_groups.h (neighbours, or stripes in long rows).

template <int NT, int R, bool kStripes>
void gemv_bf16(const WeightMatrix& W, const float* xs, float* Y, int64_t t0, int64_t r0, int64_t r1) {
  static_assert(R == 2 || R == 4);
  const int64_t K = W.cols, padded = bf16_act_floats(K);
  const float* x[NT];
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) x[t] = xs + (t0 + t) * padded;
  const __m512i high = _mm512_set1_epi32(int32_t(0xFFFF0000u));
  const uint16_t* base = static_cast<const uint16_t*>(W.data);
  const int64_t groups = gemv_row_groups(r0, r1, R);
  for (int64_t j = 0; j < groups; ++j) {
    const uint16_t* p[R];
    int64_t row[R];  // slot i's row, -1 past r1
    gemv_group_rows<R, kStripes>(r0, r1, groups, j, row);
    const int64_t r = r0 + j * R;  // neighbours: the group's first row
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) p[i] = base + (row[i] >= 0 ? row[i] : r1 - 1) * K;
    __m512 a0[NT][R], a1[NT][R];
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t)
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) a0[t][i] = a1[t][i] = _mm512_setzero_ps();
    // 32 weights of each row at k (as loaded in v[i]) against each token's reordered activations.
    auto chunk = [&](const __m512i* v, int64_t k) {
      __m512 even[R], odd[R];
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) {
        even[i] = _mm512_castsi512_ps(_mm512_slli_epi32(v[i], 16));
        odd[i] = _mm512_castsi512_ps(_mm512_and_si512(v[i], high));
      }
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        const __m512 xe = _mm512_load_ps(x[t] + k), xo = _mm512_load_ps(x[t] + k + 16);
#pragma GCC unroll 4
        for (int i = 0; i < R; ++i) {
          a0[t][i] = _mm512_fmadd_ps(even[i], xe, a0[t][i]);
          a1[t][i] = _mm512_fmadd_ps(odd[i], xo, a1[t][i]);
        }
      }
    };
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      __m512i v[R];
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) {
        prefetch(p[i] + k);
        v[i] = _mm512_loadu_si512(p[i] + k);
      }
      chunk(v, k);
    }
    // The rows' last, partial chunk: weights past K read as 0 (and their activations are 0).
    if (k < K) {
      __m512i v[R];
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) v[i] = _mm512_maskz_loadu_epi16(mask32(K - k), p[i] + k);
      chunk(v, k);
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      __m512 s[4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) s[i] = i < R ? _mm512_add_ps(a0[t][i % R], a1[t][i % R]) : _mm512_setzero_ps();
      const __m128 sums = reduce4(s[0], s[1], s[2], s[3]);
      float* y = Y + (t0 + t) * W.rows;
      if constexpr (kStripes) {
        alignas(16) float lane[4];
        _mm_store_ps(lane, sums);
#pragma GCC unroll 4
        for (int i = 0; i < R; ++i)
          if (row[i] >= 0) y[row[i]] = lane[i];
      } else {
        _mm_mask_storeu_ps(y + r, __mmask8((1u << std::min<int64_t>(R, r1 - r)) - 1), sums);
      }
    }
  }
}

// nt (1..4) tokens from t0: four rows at a time up to 2 tokens, two at 3-4 (the accumulators fit
// the registers).
template <bool kStripes>
void gemv_bf16_tokens(int64_t nt, const WeightMatrix& W, const float* xs, float* Y, int64_t t0, int64_t r0, int64_t r1) {
  switch (nt) {
    case 1: gemv_bf16<1, 4, kStripes>(W, xs, Y, t0, r0, r1); break;
    case 2: gemv_bf16<2, 4, kStripes>(W, xs, Y, t0, r0, r1); break;
    case 3: gemv_bf16<3, 2, kStripes>(W, xs, Y, t0, r0, r1); break;
    default: gemv_bf16<4, 2, kStripes>(W, xs, Y, t0, r0, r1); break;
  }
}

}  // namespace

void prepare_bf16_act(const WeightMatrix& W, const float* X, int64_t n, float* xs) {
  const int64_t K = W.cols, padded = bf16_act_floats(K);
  const __m512i even_idx = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd_idx = _mm512_add_epi32(even_idx, _mm512_set1_epi32(1));
  for (int64_t t = 0; t < n; ++t) {
    const float* x = X + t * K;
    float* out = xs + t * padded;
    for (int64_t k = 0; k < padded; k += 32) {
      const __m512 lo = _mm512_maskz_loadu_ps(mask16(K - k), x + k);
      const __m512 hi = _mm512_maskz_loadu_ps(mask16(K - k - 16), x + k + 16);
      _mm512_store_ps(out + k, _mm512_permutex2var_ps(lo, even_idx, hi));
      _mm512_store_ps(out + k + 16, _mm512_permutex2var_ps(lo, odd_idx, hi));
    }
  }
}

void gemv_float_rows(const WeightMatrix& W, const float* X, const void* prep, int64_t n, float* Y, int64_t r0,
                     int64_t r1) {
  for (int64_t t0 = 0; t0 < n; t0 += 4) {
    const int64_t nt = std::min<int64_t>(4, n - t0);
    if (W.format == WFormat::BF16) {
      const float* xs = static_cast<const float*>(prep);
      if (W.cols >= kStripeMinCols)
        gemv_bf16_tokens<true>(nt, W, xs, Y, t0, r0, r1);
      else
        gemv_bf16_tokens<false>(nt, W, xs, Y, t0, r0, r1);
    } else {
      switch (nt) {
        case 1: gemv_e4m3<1>(W, X, Y, t0, r0, r1); break;
        case 2: gemv_e4m3<2>(W, X, Y, t0, r0, r1); break;
        case 3: gemv_e4m3<3>(W, X, Y, t0, r0, r1); break;
        default: gemv_e4m3<4>(W, X, Y, t0, r0, r1); break;
      }
    }
  }
}

}  // namespace fathom::ops::detail
