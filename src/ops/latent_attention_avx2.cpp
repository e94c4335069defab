// AVX2 + FMA kernel for ops::latent_attention: the AVX-512 kernel's design at 8 lanes — vectorized
// across heads (a ymm holds 8 heads), queries transposed once per call, scores and weighted sums as
// outer products with the cache values broadcast, online softmax for 8 heads at a time. AVX2 has 16
// registers and no embedded broadcast, so tiles pair two head groups (16 heads, DeepSeek's common
// count, in one pass over the rows): 6 rows x 2 groups for scores, 6 columns x 2 groups for values.
// (The whole build targets x86-64-v3, so AVX2 needs no extra flags; dispatch enters this file only
// when cpu::isa_supported(Isa::Avx2).)
#include <immintrin.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <vector>

#include "ops/latent_attention.h"
#include "ops/simd_exp.h"

namespace fathom::ops::detail {
namespace {

using simd::exp_nonpos;

constexpr int64_t L = 8;   // heads per ymm
constexpr int64_t B = 64;  // positions per block: their rows stay in L2 while both phases use them
constexpr int T = 6;       // rows per score tile, columns per value tile

// sc[s * G + g] = Σ_k row_s[k] · qt_g[k] for N rows and G head groups (qt_g = qt + g * dk * L).
template <int N, int G>
void score_tile(const float* qt, int64_t dk, const float* row0, int64_t stride, __m256* sc) {
  const float* r[N];
#pragma GCC unroll 8
  for (int s = 0; s < N; ++s) r[s] = row0 + s * stride;
  __m256 acc[N][G];
#pragma GCC unroll 8
  for (int s = 0; s < N; ++s)
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) acc[s][g] = _mm256_setzero_ps();
  for (int64_t k = 0; k < dk; ++k) {
    __m256 q[G];
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) q[g] = _mm256_load_ps(qt + (g * dk + k) * L);
#pragma GCC unroll 8
    for (int s = 0; s < N; ++s) {
      const __m256 c = _mm256_broadcast_ss(r[s] + k);
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) acc[s][g] = _mm256_fmadd_ps(c, q[g], acc[s][g]);
    }
  }
#pragma GCC unroll 8
  for (int s = 0; s < N; ++s)
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) sc[s * G + g] = acc[s][g];
}

// ot_g[d] += Σ_j row_j[d] · p[j * G + g] for N columns d, G head groups (ot_g = ot + g * dv * L), nb rows.
template <int N, int G>
void value_tile(const __m256* p, int64_t nb, const float* row0, int64_t stride, float* ot, int64_t dv) {
  __m256 acc[N][G];
#pragma GCC unroll 8
  for (int d = 0; d < N; ++d)
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) acc[d][g] = _mm256_load_ps(ot + (g * dv + d) * L);
  for (int64_t j = 0; j < nb; ++j) {
    const float* r = row0 + j * stride;
    _mm_prefetch(reinterpret_cast<const char*>(r + 4 * stride), _MM_HINT_T0);
    __m256 pj[G];
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) pj[g] = p[j * G + g];
#pragma GCC unroll 8
    for (int d = 0; d < N; ++d) {
      const __m256 c = _mm256_broadcast_ss(r + d);
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) acc[d][g] = _mm256_fmadd_ps(c, pj[g], acc[d][g]);
    }
  }
#pragma GCC unroll 8
  for (int d = 0; d < N; ++d)
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) _mm256_store_ps(ot + (g * dv + d) * L, acc[d][g]);
}

template <int G>
void scores(const float* qt, int64_t dk, const float* row0, int64_t stride, int64_t nb, __m256* sc) {
  int64_t j = 0;
  for (; j + T <= nb; j += T) score_tile<T, G>(qt, dk, row0 + j * stride, stride, sc + j * G);
  for (; j < nb; ++j) score_tile<1, G>(qt, dk, row0 + j * stride, stride, sc + j * G);
}

template <int G>
void values(const __m256* p, int64_t nb, const float* row0, int64_t stride, int64_t dv, float* ot) {
  int64_t d = 0;
  for (; d + T <= dv; d += T) value_tile<T, G>(p, nb, row0 + d, stride, ot + d * L, dv);
  for (; d < dv; ++d) value_tile<1, G>(p, nb, row0 + d, stride, ot + d * L, dv);
}

// One pass over positions [s0, s1) for G (1 or 2) head groups starting at group g0.
template <int G>
void pass(const LatentAttention& a, int64_t s0, int64_t s1, const float* qt, float* ot, __m256* sc, __m256* mv,
          __m256* lv) {
  const int64_t dk = a.dk, dv = a.dv;
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    mv[g] = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    lv[g] = _mm256_setzero_ps();
  }
  for (int64_t b0 = s0; b0 < s1; b0 += B) {
    const int64_t nb = std::min(B, s1 - b0);
    const float* row0 = a.cache + b0 * a.stride;
    scores<G>(qt, dk, row0, a.stride, nb, sc);
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {  // online softmax, 8 heads at a time
      __m256 bmax = sc[g];
      for (int64_t j = 1; j < nb; ++j) bmax = _mm256_max_ps(bmax, sc[j * G + g]);
      const __m256 nm = _mm256_max_ps(mv[g], bmax);
      const __m256 f = exp_nonpos(_mm256_sub_ps(mv[g], nm));  // 0 on the first block (m = -inf)
      __m256 sum = _mm256_setzero_ps();
      for (int64_t j = 0; j < nb; ++j) {
        sc[j * G + g] = exp_nonpos(_mm256_sub_ps(sc[j * G + g], nm));
        sum = _mm256_add_ps(sum, sc[j * G + g]);
      }
      lv[g] = _mm256_fmadd_ps(lv[g], f, sum);
      float* og = ot + g * dv * L;
      if (_mm256_movemask_ps(_mm256_cmp_ps(f, _mm256_set1_ps(1.0f), _CMP_NEQ_UQ)) != 0)
        for (int64_t d = 0; d < dv; ++d) _mm256_store_ps(og + d * L, _mm256_mul_ps(f, _mm256_load_ps(og + d * L)));
      mv[g] = nm;
    }
    values<G>(sc, nb, row0, a.stride, dv, ot);
  }
}

}  // namespace

void latent_partial_avx2(const LatentAttention& a, int64_t s0, int64_t s1, float* m, float* l, float* o) {
  const int64_t H = a.heads, dk = a.dk, dv = a.dv, HG = (H + L - 1) / L;
  thread_local KernelScratch qt_s, ot_s, sc_s;
  float* qt = qt_s.get(HG * dk * L);  // [group][k][8 heads], times scale; padding heads 0
  float* ot = ot_s.get(HG * dv * L);  // [group][d][8 heads]: the weighted sums, transposed
  __m256* sc = reinterpret_cast<__m256*>(sc_s.get(B * 2 * L));
  for (int64_t g = 0; g < HG; ++g)
    for (int64_t k = 0; k < dk; ++k)
      for (int64_t i = 0; i < L; ++i) {
        const int64_t h = g * L + i;
        qt[(g * dk + k) * L + i] = h < H ? a.q[h * dk + k] * a.scale : 0.0f;
      }
  std::fill(ot, ot + HG * dv * L, 0.0f);
  for (int64_t g0 = 0; g0 < HG; g0 += 2) {
    __m256 mv[2], lv[2];
    const int G = int(std::min<int64_t>(2, HG - g0));
    if (G == 2)
      pass<2>(a, s0, s1, qt + g0 * dk * L, ot + g0 * dv * L, sc, mv, lv);
    else
      pass<1>(a, s0, s1, qt + g0 * dk * L, ot + g0 * dv * L, sc, mv, lv);
    // Back to the per-head layout of the interface.
    for (int g = 0; g < G; ++g) {
      alignas(32) float mm[L], ll[L];
      _mm256_store_ps(mm, mv[g]);
      _mm256_store_ps(ll, lv[g]);
      const int64_t h0 = (g0 + g) * L;
      store_group_partial(mm, ll, ot + (g0 + g) * dv * L, L, h0, std::min(L, H - h0), dv, m, l, o);
    }
  }
}

}  // namespace fathom::ops::detail
