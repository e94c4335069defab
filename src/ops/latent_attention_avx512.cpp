// AVX-512 kernel for ops::latent_attention: register-tiled scores (4 heads x 4 positions per tile,
// each cache row loaded once per 4 heads), a vectorized exp for the online softmax, and the weighted
// sum of latents as 8 heads x 32 columns tiles (each row chunk loaded once per 8 heads).
// GCC 12's _mm512_reduce_* intrinsics start from _mm256_undefined_ps() and warn about it in callers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/latent_attention.h"

namespace fathom::ops::detail {
namespace {

constexpr int64_t B = 64;  // positions per block (scores for all heads of a block stay in L1)

__mmask16 tail_mask(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// e^x for x <= 0 (arguments are score - running max): x = n·ln2 + r, |r| <= ln2/2, e^r by a
// degree-6 polynomial (relative error ~2e-7), then scaled by 2^n; very negative x underflows to 0.
inline __m512 exp_nonpos(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// sc[h * B + j] = scale · q[h] · row_j for NH heads and NS rows.
template <int NH, int NS>
void score_tile(const float* q, int64_t dk, const float* const* rows, float scale, float* sc) {
  __m512 acc[NH][NS];
#pragma GCC unroll 16
  for (int h = 0; h < NH; ++h)
#pragma GCC unroll 16
    for (int s = 0; s < NS; ++s) acc[h][s] = _mm512_setzero_ps();
  for (int64_t i = 0; i < dk; i += 16) {
    const __mmask16 mk = tail_mask(dk - i);
    __m512 c[NS];
#pragma GCC unroll 16
    for (int s = 0; s < NS; ++s) c[s] = _mm512_maskz_loadu_ps(mk, rows[s] + i);
#pragma GCC unroll 16
    for (int h = 0; h < NH; ++h) {
      const __m512 qv = _mm512_maskz_loadu_ps(mk, q + h * dk + i);
#pragma GCC unroll 16
      for (int s = 0; s < NS; ++s) acc[h][s] = _mm512_fmadd_ps(qv, c[s], acc[h][s]);
    }
  }
#pragma GCC unroll 16
  for (int h = 0; h < NH; ++h)
#pragma GCC unroll 16
    for (int s = 0; s < NS; ++s) sc[h * B + s] = _mm512_reduce_add_ps(acc[h][s]) * scale;
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

void score_tile_any(int nh, int ns, const float* q, int64_t dk, const float* const* rows, float scale, float* sc) {
  switch (nh) {
    case 4: return score_tile_rows<4>(ns, q, dk, rows, scale, sc);
    case 3: return score_tile_rows<3>(ns, q, dk, rows, scale, sc);
    case 2: return score_tile_rows<2>(ns, q, dk, rows, scale, sc);
    default: return score_tile_rows<1>(ns, q, dk, rows, scale, sc);
  }
}

// o[h, 0:w] += Σ_j p[h * B + j] · row_j[0:w] for NH heads, w <= 32 columns (masks m0, m1).
template <int NH>
void value_tile(const float* p, const float* row0, int64_t stride, int64_t nb, float* o, int64_t dv, __mmask16 m0,
                __mmask16 m1) {
  __m512 acc[NH][2];
#pragma GCC unroll 8
  for (int h = 0; h < NH; ++h) {
    acc[h][0] = _mm512_maskz_loadu_ps(m0, o + h * dv);
    acc[h][1] = _mm512_maskz_loadu_ps(m1, o + h * dv + 16);
  }
  for (int64_t j = 0; j < nb; ++j) {
    const float* r = row0 + j * stride;
    const __m512 c0 = _mm512_maskz_loadu_ps(m0, r), c1 = _mm512_maskz_loadu_ps(m1, r + 16);
#pragma GCC unroll 8
    for (int h = 0; h < NH; ++h) {
      const __m512 pb = _mm512_set1_ps(p[h * B + j]);
      acc[h][0] = _mm512_fmadd_ps(pb, c0, acc[h][0]);
      acc[h][1] = _mm512_fmadd_ps(pb, c1, acc[h][1]);
    }
  }
#pragma GCC unroll 8
  for (int h = 0; h < NH; ++h) {
    _mm512_mask_storeu_ps(o + h * dv, m0, acc[h][0]);
    _mm512_mask_storeu_ps(o + h * dv + 16, m1, acc[h][1]);
  }
}

void value_tile_any(int nh, const float* p, const float* row0, int64_t stride, int64_t nb, float* o, int64_t dv,
                    __mmask16 m0, __mmask16 m1) {
  switch (nh) {
    case 8: return value_tile<8>(p, row0, stride, nb, o, dv, m0, m1);
    case 7: return value_tile<7>(p, row0, stride, nb, o, dv, m0, m1);
    case 6: return value_tile<6>(p, row0, stride, nb, o, dv, m0, m1);
    case 5: return value_tile<5>(p, row0, stride, nb, o, dv, m0, m1);
    case 4: return value_tile<4>(p, row0, stride, nb, o, dv, m0, m1);
    case 3: return value_tile<3>(p, row0, stride, nb, o, dv, m0, m1);
    case 2: return value_tile<2>(p, row0, stride, nb, o, dv, m0, m1);
    default: return value_tile<1>(p, row0, stride, nb, o, dv, m0, m1);
  }
}

}  // namespace

void latent_partial_avx512(const LatentAttention& a, int64_t s0, int64_t s1, float* m, float* l, float* o) {
  const int64_t H = a.heads, dk = a.dk, dv = a.dv;
  thread_local std::vector<float> sc_storage;
  sc_storage.resize(size_t(H * B));
  float* sc = sc_storage.data();
  std::fill(m, m + H, -std::numeric_limits<float>::infinity());
  std::fill(l, l + H, 0.0f);
  std::fill(o, o + H * dv, 0.0f);
  for (int64_t b0 = s0; b0 < s1; b0 += B) {
    const int64_t nb = std::min(B, s1 - b0);
    // Scores for every head and position of the block.
    for (int64_t j0 = 0; j0 < nb; j0 += 4) {
      const int ns = int(std::min<int64_t>(4, nb - j0));
      const float* rows[4];
      for (int s = 0; s < ns; ++s) rows[s] = a.cache + (b0 + j0 + s) * a.stride;
      // The rows come from memory (the cache outgrows the caches at long context): ask for the rows
      // two tiles ahead now, so the loads below find them in L1 (the hardware prefetcher alone
      // leaves this loop waiting on loads).
      const int64_t ahead = b0 + j0 + 8;
      if (ahead < s1) {
        const char* pf = reinterpret_cast<const char*>(a.cache + ahead * a.stride);
        const int64_t bytes = std::min<int64_t>(4, s1 - ahead) * a.stride * 4;
        for (int64_t off = 0; off < bytes; off += 64) _mm_prefetch(pf + off, _MM_HINT_T0);
      }
      for (int64_t h0 = 0; h0 < H; h0 += 4)
        score_tile_any(int(std::min<int64_t>(4, H - h0)), ns, a.q + h0 * dk, dk, rows, a.scale, sc + h0 * B + j0);
    }
    // Online softmax per head: probabilities in place, running sums rescaled to the new maximum.
    for (int64_t h = 0; h < H; ++h) {
      float* p = sc + h * B;
      __m512 vmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
      for (int64_t j = 0; j < nb; j += 16) vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(vmax, tail_mask(nb - j), p + j));
      const float nm = std::max(m[h], _mm512_reduce_max_ps(vmax));
      const float f = std::exp(m[h] - nm);
      const __m512 vm = _mm512_set1_ps(nm);
      __m512 vsum = _mm512_setzero_ps();
      for (int64_t j = 0; j < nb; j += 16) {
        const __mmask16 mk = tail_mask(nb - j);
        const __m512 e = exp_nonpos(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, p + j), vm));
        _mm512_mask_storeu_ps(p + j, mk, e);
        vsum = _mm512_add_ps(vsum, _mm512_maskz_mov_ps(mk, e));
      }
      l[h] = l[h] * f + _mm512_reduce_add_ps(vsum);
      if (f != 1.0f) {
        const __m512 vf = _mm512_set1_ps(f);
        float* oh = o + h * dv;
        for (int64_t i = 0; i < dv; i += 16) {
          const __mmask16 mk = tail_mask(dv - i);
          _mm512_mask_storeu_ps(oh + i, mk, _mm512_mul_ps(vf, _mm512_maskz_loadu_ps(mk, oh + i)));
        }
      }
      m[h] = nm;
    }
    // Weighted sum of the block's latents, 32 columns x 8 heads at a time.
    const float* row0 = a.cache + b0 * a.stride;
    for (int64_t c0 = 0; c0 < dv; c0 += 32) {
      const int64_t w = std::min<int64_t>(32, dv - c0);
      const __mmask16 m0 = tail_mask(w), m1 = w > 16 ? tail_mask(w - 16) : __mmask16(0);
      for (int64_t h0 = 0; h0 < H; h0 += 8)
        value_tile_any(int(std::min<int64_t>(8, H - h0)), sc + h0 * B, row0 + c0, a.stride, nb, o + h0 * dv + c0, dv,
                       m0, m1);
    }
  }
}

}  // namespace fathom::ops::detail
