// AVX2 + FMA kernel for ops::latent_attention: the AVX-512 kernel's structure at 8 lanes — scores as
// 2 heads x 4 positions tiles (each cache row loaded once per 2 heads), a vectorized exp for the
// online softmax, and the weighted sum of latents as 4 heads x 16 columns tiles.
// (The whole build targets x86-64-v3, so AVX2 needs no extra flags; dispatch enters this file only
// when cpu::isa_supported(Isa::Avx2).)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/latent_attention.h"

namespace fathom::ops::detail {
namespace {

constexpr int64_t B = 64;  // positions per block

// Lanes [0, n) set (n clamped to 0..8), as a maskload/maskstore mask.
inline __m256i lane_mask(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::clamp<int64_t>(n, 0, 8))), idx);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// e^x for x <= 0, as in the AVX-512 kernel; 2^n is built in the exponent field (x >= -87 keeps n
// a normal exponent; below that the result is 0 to f32 precision anyway).
inline __m256 exp_nonpos(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.0f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_max_ps(x, lo);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

template <int NH, int NS>
void score_tile(const float* q, int64_t dk, const float* const* rows, float scale, float* sc) {
  __m256 acc[NH][NS];
  for (int h = 0; h < NH; ++h)
    for (int s = 0; s < NS; ++s) acc[h][s] = _mm256_setzero_ps();
  for (int64_t i = 0; i < dk; i += 8) {
    const __m256i mk = lane_mask(dk - i);
    __m256 c[NS];
    for (int s = 0; s < NS; ++s) c[s] = _mm256_maskload_ps(rows[s] + i, mk);
    for (int h = 0; h < NH; ++h) {
      const __m256 qv = _mm256_maskload_ps(q + h * dk + i, mk);
      for (int s = 0; s < NS; ++s) acc[h][s] = _mm256_fmadd_ps(qv, c[s], acc[h][s]);
    }
  }
  for (int h = 0; h < NH; ++h)
    for (int s = 0; s < NS; ++s) sc[h * B + s] = hsum(acc[h][s]) * scale;
}

template <int NH>
void score_tile_rows(int ns, const float* q, int64_t dk, const float* const* rows, float scale, float* sc) {
  switch (ns) {
    case 4: return score_tile<NH, 4>(q, dk, rows, scale, sc);
    case 3: return score_tile<NH, 3>(q, dk, rows, scale, sc);
    case 2: return score_tile<NH, 2>(q, dk, rows, scale, sc);
    default: return score_tile<NH, 1>(q, dk, rows, scale, sc);
  }
}

template <int NH>
void value_tile(const float* p, const float* row0, int64_t stride, int64_t nb, float* o, int64_t dv, __m256i m0,
                __m256i m1) {
  __m256 acc[NH][2];
  for (int h = 0; h < NH; ++h) {
    acc[h][0] = _mm256_maskload_ps(o + h * dv, m0);
    acc[h][1] = _mm256_maskload_ps(o + h * dv + 8, m1);
  }
  for (int64_t j = 0; j < nb; ++j) {
    const float* r = row0 + j * stride;
    const __m256 c0 = _mm256_maskload_ps(r, m0), c1 = _mm256_maskload_ps(r + 8, m1);
    for (int h = 0; h < NH; ++h) {
      const __m256 pb = _mm256_broadcast_ss(p + h * B + j);
      acc[h][0] = _mm256_fmadd_ps(pb, c0, acc[h][0]);
      acc[h][1] = _mm256_fmadd_ps(pb, c1, acc[h][1]);
    }
  }
  for (int h = 0; h < NH; ++h) {
    _mm256_maskstore_ps(o + h * dv, m0, acc[h][0]);
    _mm256_maskstore_ps(o + h * dv + 8, m1, acc[h][1]);
  }
}

void value_tile_any(int nh, const float* p, const float* row0, int64_t stride, int64_t nb, float* o, int64_t dv,
                    __m256i m0, __m256i m1) {
  switch (nh) {
    case 4: return value_tile<4>(p, row0, stride, nb, o, dv, m0, m1);
    case 3: return value_tile<3>(p, row0, stride, nb, o, dv, m0, m1);
    case 2: return value_tile<2>(p, row0, stride, nb, o, dv, m0, m1);
    default: return value_tile<1>(p, row0, stride, nb, o, dv, m0, m1);
  }
}

}  // namespace

void latent_partial_avx2(const LatentAttention& a, int64_t s0, int64_t s1, float* m, float* l, float* o) {
  const int64_t H = a.heads, dk = a.dk, dv = a.dv;
  thread_local std::vector<float> sc_storage;
  sc_storage.resize(size_t(H * B));
  float* sc = sc_storage.data();
  std::fill(m, m + H, -std::numeric_limits<float>::infinity());
  std::fill(l, l + H, 0.0f);
  std::fill(o, o + H * dv, 0.0f);
  for (int64_t b0 = s0; b0 < s1; b0 += B) {
    const int64_t nb = std::min(B, s1 - b0);
    for (int64_t j0 = 0; j0 < nb; j0 += 4) {
      const int ns = int(std::min<int64_t>(4, nb - j0));
      const float* rows[4];
      for (int s = 0; s < ns; ++s) rows[s] = a.cache + (b0 + j0 + s) * a.stride;
      for (int64_t h0 = 0; h0 < H; h0 += 2) {
        float* dst = sc + h0 * B + j0;
        if (H - h0 >= 2)
          score_tile_rows<2>(ns, a.q + h0 * dk, dk, rows, a.scale, dst);
        else
          score_tile_rows<1>(ns, a.q + h0 * dk, dk, rows, a.scale, dst);
      }
    }
    for (int64_t h = 0; h < H; ++h) {
      float* p = sc + h * B;
      float bm = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < nb; ++j) bm = std::max(bm, p[j]);
      const float nm = std::max(m[h], bm);
      const float f = std::exp(m[h] - nm);
      const __m256 vm = _mm256_set1_ps(nm);
      __m256 vsum = _mm256_setzero_ps();
      for (int64_t j = 0; j < nb; j += 8) {
        const __m256i mk = lane_mask(nb - j);
        const __m256 e = _mm256_and_ps(exp_nonpos(_mm256_sub_ps(_mm256_maskload_ps(p + j, mk), vm)),
                                       _mm256_castsi256_ps(mk));
        _mm256_maskstore_ps(p + j, mk, e);
        vsum = _mm256_add_ps(vsum, e);
      }
      l[h] = l[h] * f + hsum(vsum);
      if (f != 1.0f)
        for (int64_t i = 0; i < dv; ++i) o[h * dv + i] *= f;
      m[h] = nm;
    }
    const float* row0 = a.cache + b0 * a.stride;
    for (int64_t c0 = 0; c0 < dv; c0 += 16) {
      const __m256i m0 = lane_mask(dv - c0), m1 = lane_mask(dv - c0 - 8);
      for (int64_t h0 = 0; h0 < H; h0 += 4)
        value_tile_any(int(std::min<int64_t>(4, H - h0)), sc + h0 * B, row0 + c0, a.stride, nb, o + h0 * dv + c0, dv,
                       m0, m1);
    }
  }
}

}  // namespace fathom::ops::detail
