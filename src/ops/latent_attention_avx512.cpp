// AVX-512 kernel for ops::latent_attention, vectorized across heads: a zmm holds 16 heads.
//
// All heads attend over the same cache rows, so the natural product is an outer one. With the
// query transposed once per call (qt[k] = the 16 heads' query values at column k, pre-scaled),
//   scores[row] (16 heads) = Σ_k C[row, k] · qt[k]            one broadcast FMA per row and k,
//   o_t[d]      (16 heads) += Σ_row C[row, d] · p[row]         one broadcast FMA per row and column,
// and the cache values enter as embedded broadcasts ({1to16} memory operands). There are no
// horizontal sums and no tails: any dk, dv and stride work, and heads pad to 16 with zero queries.
// Per FMA the loads are 1 + 1/16 (scores, 16 rows per tile) and 1 + 1/16 (values, 16 columns per
// tile), so the loop runs near the FMA rate; the online softmax is vectorized over heads too (one
// exp per row for 16 heads). It replaced dot products per head and row with a horizontal sum each,
// which spent its time in the sums (BM_LatentAttention; figures in docs/PERFORMANCE.md).
// GCC 12's _mm512_reduce_* intrinsics start from _mm256_undefined_ps() and warn about it in callers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
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

constexpr int64_t L = 16;  // heads per zmm
constexpr int64_t B = 64;  // positions per block: their rows stay in L2 while both phases use them
constexpr int DC = 16;     // columns per value tile

// sc[s] = Σ_k row_s[k] · qt[k] for N rows (row_s = row0 + s * stride). pf, when set, points at the
// rows one block further on: one line of each is prefetched per 16 columns, so the next block
// arrives from memory while this one computes. S: the stride when known at compile time (0: use
// `stride`). With it, every row is a constant displacement from one pointer; without it each row
// needs a register of its own, so tiles stay at 8 rows (16 pointers would spill).
template <int N, int64_t S>
void score_tile(const float* qt, int64_t dk, const float* row0, int64_t stride, const float* pf, __m512* sc) {
  const int64_t st = S ? S : stride;
  const float* r[N];
#pragma GCC unroll 16
  for (int s = 0; s < N; ++s) r[s] = row0 + s * st;
  __m512 acc[N];
#pragma GCC unroll 16
  for (int s = 0; s < N; ++s) acc[s] = _mm512_setzero_ps();
  for (int64_t k0 = 0; k0 < dk; k0 += 16) {
    if (pf)
#pragma GCC unroll 16
      for (int s = 0; s < N; ++s) _mm_prefetch(reinterpret_cast<const char*>(pf + s * st + k0), _MM_HINT_T1);
    const int64_t k1 = std::min(dk, k0 + 16);
#pragma GCC unroll 4
    for (int64_t k = k0; k < k1; ++k) {
      const __m512 q = _mm512_load_ps(qt + k * L);
      if constexpr (S != 0) {
#pragma GCC unroll 16
        for (int s = 0; s < N; ++s) acc[s] = _mm512_fmadd_ps(_mm512_set1_ps(row0[s * S + k]), q, acc[s]);
      } else {
#pragma GCC unroll 16
        for (int s = 0; s < N; ++s) acc[s] = _mm512_fmadd_ps(_mm512_set1_ps(r[s][k]), q, acc[s]);
      }
    }
  }
#pragma GCC unroll 16
  for (int s = 0; s < N; ++s) sc[s] = acc[s];
}

// ot[d] += Σ_j row_j[d] · p[j] for N columns d and nb rows.
template <int N>
void value_tile(const __m512* p, int64_t nb, const float* row0, int64_t stride, float* ot) {
  __m512 acc[N];
#pragma GCC unroll 16
  for (int d = 0; d < N; ++d) acc[d] = _mm512_load_ps(ot + d * L);
  for (int64_t j = 0; j < nb; ++j) {
    const float* r = row0 + j * stride;
    // Each row gives this tile one cache line: ask for the line 4 rows on now (the hardware
    // prefetcher does not follow this stride).
    _mm_prefetch(reinterpret_cast<const char*>(r + 4 * stride), _MM_HINT_T0);
    const __m512 pj = p[j];
#pragma GCC unroll 16
    for (int d = 0; d < N; ++d) acc[d] = _mm512_fmadd_ps(_mm512_set1_ps(r[d]), pj, acc[d]);
  }
#pragma GCC unroll 16
  for (int d = 0; d < N; ++d) _mm512_store_ps(ot + d * L, acc[d]);
}

// Scores for rows [0, nb) of a block: tiles of N rows, tails by halves.
template <int N, int64_t S>
void scores_tiled(const float* qt, int64_t dk, const float* row0, int64_t stride, int64_t nb, const float* pf_row0,
                  int64_t pf_rows, __m512* sc) {
  int64_t j = 0;
  auto pf = [&](int64_t j0, int n) { return j0 + n <= pf_rows ? pf_row0 + j0 * stride : nullptr; };
  for (; j + N <= nb; j += N) score_tile<N, S>(qt, dk, row0 + j * stride, stride, pf(j, N), sc + j);
  if constexpr (N > 8)
    if (j + 8 <= nb) score_tile<8, S>(qt, dk, row0 + j * stride, stride, pf(j, 8), sc + j), j += 8;
  if (j + 4 <= nb) score_tile<4, S>(qt, dk, row0 + j * stride, stride, pf(j, 4), sc + j), j += 4;
  if (j + 2 <= nb) score_tile<2, S>(qt, dk, row0 + j * stride, stride, pf(j, 2), sc + j), j += 2;
  if (j < nb) score_tile<1, S>(qt, dk, row0 + j * stride, stride, pf(j, 1), sc + j);
}

// The DeepSeek V2/V3 row (kv_lora_rank 512 + rope 64) gets the compile-time stride.
constexpr int64_t kDeepSeekRow = 576;

void scores(const float* qt, int64_t dk, const float* row0, int64_t stride, int64_t nb, const float* pf_row0,
            int64_t pf_rows, __m512* sc) {
  if (stride == kDeepSeekRow) return scores_tiled<16, kDeepSeekRow>(qt, dk, row0, stride, nb, pf_row0, pf_rows, sc);
  scores_tiled<8, 0>(qt, dk, row0, stride, nb, pf_row0, pf_rows, sc);
}

void values(const __m512* p, int64_t nb, const float* row0, int64_t stride, int64_t dv, float* ot) {
  int64_t d = 0;
  for (; d + DC <= dv; d += DC) value_tile<DC>(p, nb, row0 + d, stride, ot + d * L);
  if (d + 8 <= dv) value_tile<8>(p, nb, row0 + d, stride, ot + d * L), d += 8;
  if (d + 4 <= dv) value_tile<4>(p, nb, row0 + d, stride, ot + d * L), d += 4;
  if (d + 2 <= dv) value_tile<2>(p, nb, row0 + d, stride, ot + d * L), d += 2;
  if (d < dv) value_tile<1>(p, nb, row0 + d, stride, ot + d * L);
}

}  // namespace

void latent_partial_avx512(const LatentAttention& a, int64_t s0, int64_t s1, float* m, float* l, float* o) {
  const int64_t H = a.heads, dk = a.dk, dv = a.dv, HG = (H + L - 1) / L;
  thread_local KernelScratch qt_s, ot_s, sc_s;
  float* qt = qt_s.get(HG * dk * L);  // [group][k][16 heads], times scale; padding heads 0
  float* ot = ot_s.get(HG * dv * L);  // [group][d][16 heads]: the weighted sums, transposed
  __m512* sc = reinterpret_cast<__m512*>(sc_s.get(B * L));
  for (int64_t g = 0; g < HG; ++g) {  // one gather per column: the 16 heads' values at k
    const __mmask16 live = __mmask16((1u << std::min(L, H - g * L)) - 1);
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(int32_t(dk)));
    const float* qg = a.q + g * L * dk;
    for (int64_t k = 0; k < dk; ++k)
      _mm512_store_ps(qt + (g * dk + k) * L,
                      _mm512_mul_ps(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx, qg + k, 4),
                                    _mm512_set1_ps(a.scale)));
  }
  std::fill(ot, ot + HG * dv * L, 0.0f);
  // a.queries > 1: rows from first_hidden on are hidden from the heads of some tokens (monotone: a
  // head that does not see a row sees none after it); hidden(g, row) is that lane mask.
  const int64_t first_hidden = a.positions - (a.queries - 1);
  auto hidden = [&](int64_t g, int64_t row) {
    __mmask16 m = 0;
    for (int64_t i = 0; i < L && g * L + i < H; ++i)
      if (row >= visible_rows(a, g * L + i)) m = __mmask16(m | (1u << i));
    return m;
  };
  const __m512 minus_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  constexpr int64_t kMaxGroups = 16;  // 256 heads; more run in passes of this many groups
  for (int64_t g0 = 0; g0 < HG; g0 += kMaxGroups) {
    const int64_t ng = std::min(kMaxGroups, HG - g0);
    __m512 mv[kMaxGroups], lv[kMaxGroups];
    for (int64_t g = 0; g < ng; ++g) {
      mv[g] = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
      lv[g] = _mm512_setzero_ps();
    }
    for (int64_t b0 = s0; b0 < s1; b0 += B) {
      const int64_t nb = std::min(B, s1 - b0);
      const float* row0 = a.cache + b0 * a.stride;
      const int64_t pf_rows = std::clamp<int64_t>(s1 - (b0 + B), 0, B);
      for (int64_t g = g0; g < g0 + ng; ++g) {
        // Scores, then the online softmax for 16 heads at once: probabilities in place of the
        // scores, running sums rescaled to the new maximum.
        scores(qt + g * dk * L, dk, row0, a.stride, nb, g == g0 ? row0 + B * a.stride : nullptr, g == g0 ? pf_rows : 0,
               sc);
        const int64_t j_hidden = std::clamp<int64_t>(first_hidden - b0, 0, nb);  // rows before it: all see
        for (int64_t j = j_hidden; j < nb; ++j) sc[j] = _mm512_mask_mov_ps(sc[j], hidden(g, b0 + j), minus_inf);
        __m512 bmax = sc[0];
        for (int64_t j = 1; j < nb; ++j) bmax = _mm512_max_ps(bmax, sc[j]);
        const __m512 nm = _mm512_max_ps(mv[g - g0], bmax);
        __m512 f = exp_nonpos(_mm512_sub_ps(mv[g - g0], nm));  // 0 on the first block (m = -inf)
        // A block wholly hidden from a lane leaves its sums as they are (it starts past row 0, so m is
        // finite), and hidden rows weigh exactly 0 (not left to the clamp inside exp_nonpos).
        if (j_hidden == 0) f = _mm512_mask_mov_ps(f, hidden(g, b0), _mm512_set1_ps(1.0f));
        __m512 sum = _mm512_setzero_ps();
        for (int64_t j = 0; j < nb; ++j) {
          sc[j] = exp_nonpos(_mm512_sub_ps(sc[j], nm));
          if (j >= j_hidden) sc[j] = _mm512_maskz_mov_ps(__mmask16(~hidden(g, b0 + j)), sc[j]);
          sum = _mm512_add_ps(sum, sc[j]);
        }
        lv[g - g0] = _mm512_fmadd_ps(lv[g - g0], f, sum);
        float* og = ot + g * dv * L;
        if (_mm512_cmp_ps_mask(f, _mm512_set1_ps(1.0f), _CMP_NEQ_UQ) != 0)
          for (int64_t d = 0; d < dv; ++d) _mm512_store_ps(og + d * L, _mm512_mul_ps(f, _mm512_load_ps(og + d * L)));
        mv[g - g0] = nm;
        values(sc, nb, row0, a.stride, dv, og);
      }
    }
    // Back to the per-head layout of the interface.
    for (int64_t g = g0; g < g0 + ng; ++g) {
      alignas(64) float mm[L], ll[L];
      _mm512_store_ps(mm, mv[g - g0]);
      _mm512_store_ps(ll, lv[g - g0]);
      store_group_partial(mm, ll, ot + g * dv * L, L, g * L, std::min(L, H - g * L), dv, m, l, o);
    }
  }
}

}  // namespace fathom::ops::detail
