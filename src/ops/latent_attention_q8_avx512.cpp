// AVX-512 VNNI kernel for ops::latent_attention over the 8-bit cache (ops/quant/latent_q8.h).
//
// With 16 heads every f32 cache value feeds exactly one FMA, so the f32 kernel issues a broadcast
// load per FMA and stalls at half the FMA rate; at 16K positions it, not memory, sets the cost of
// long contexts. Here both phases are int8 dot products, vpdpbusd: 64 multiply-adds per
// instruction against 16, on a quarter of the bytes.
//
//   scores, 16 rows x 16 heads: the cache's 64-byte line (4 columns of 16 rows, u8 = c + 128) is the
//     unsigned operand, the head's 4 int8 query values at those columns the broadcast signed one;
//     one accumulator per head, rows in the lanes. c + 128 adds 128 * Σq per head, taken off once.
//     The latent and rope parts sum separately (each has its own row scale and query scale).
//   online softmax per head over a block of 64 rows, then p' = p * (row's latent scale) quantized to
//     u8 per head and block (scale max p' / 255).
//   values, 16 columns x 16 heads: 4 rows x 4 columns are 16 contiguous bytes in the layout; four of
//     them make a zmm that one vpshufb turns into lanes of (4 rows of one column), xor 0x80 makes them
//     signed, and each head's 4 probabilities (u8) are the broadcast unsigned operand.
// Int32 never overflows: scores at most 255 * 127 per product and 4 * 144 products (DeepSeek's 576
// columns) per lane, values 255 * 127 * 64 rows.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/latent_attention.h"
#include "ops/simd_exp.h"

namespace fathom::ops::detail {
namespace {

constexpr int64_t L = 16;      // heads per accumulator set; rows per group
constexpr int64_t B = 64;      // rows per softmax block (4 groups)
constexpr int64_t kGroups = B / L;

struct Scratch {
  std::vector<int32_t> q8;                  // [head group][quads][16 heads]: 4 int8 query values per int32
  std::vector<float> sq_lat, sq_rope;       // [heads_p] query scales (softmax scale folded in)
  std::vector<int32_t> corr_lat, corr_rope; // [heads_p] 128 * Σq8 per part
  std::vector<float> ot;                    // [heads_p][rank_p] weighted sums
  std::vector<float> mh, lh;                // [heads_p] running max and sum of the softmax
  alignas(64) float sc[L][B];               // one head group's scores, then probabilities
  alignas(64) uint8_t p8[L][B];             // quantized probabilities
  float sp[L];                              // their scales
};

// Quantizes n values of x (times scale) to int8 at q[0..np) (bytes), returns the scale, sets corr.
float quantize_query(const float* x, int64_t n, int64_t np, float scale, int8_t* q, int32_t& corr) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i] * scale));
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  int32_t sum = 0;
  for (int64_t i = 0; i < np; ++i) {
    const int v = i < n ? int(std::nearbyint(x[i] * scale * inv)) : 0;
    q[i] = int8_t(std::clamp(v, -127, 127));
    sum += q[i];
  }
  corr = 128 * sum;
  return amax / 127.0f;
}

// acc[h] += Σ over quads [k0, k1) of the group's line · head h's query quad, for 16 heads (q8h:
// [quads][16], so the 16 broadcasts are fixed offsets from one pointer).
inline void score_quads(const uint8_t* g, const int32_t* q8h, int64_t k0, int64_t k1, const uint8_t* pf,
                        __m512i acc[L]) {
  for (int64_t kq = k0; kq < k1; ++kq) {
    if (pf) _mm_prefetch(reinterpret_cast<const char*>(pf + kq * 64), _MM_HINT_T1);
    const __m512i a = _mm512_load_si512(g + kq * 64);
    const int32_t* qk = q8h + kq * L;
#pragma GCC unroll 16
    for (int h = 0; h < L; ++h) acc[h] = _mm512_dpbusd_epi32(acc[h], a, _mm512_set1_epi32(qk[h]));
  }
}

}  // namespace

void latent_partial_q8_avx512(const LatentAttentionQ8& a, int64_t s0, int64_t s1, float* m, float* l, float* o) {
  const LatentQ8Layout& lay = a.cache.layout;
  const int64_t H = a.heads, HG = (H + L - 1) / L, Hp = HG * L;
  const int64_t rank = lay.rank, quads = lay.quads(), kl = lay.rank_p / 4, gbytes = lay.group_bytes();
  thread_local Scratch s;
  s.q8.assign(size_t(Hp * quads), 0);
  s.sq_lat.assign(size_t(Hp), 0.0f);
  s.sq_rope.assign(size_t(Hp), 0.0f);
  s.corr_lat.assign(size_t(Hp), 0);
  s.corr_rope.assign(size_t(Hp), 0);
  s.ot.assign(size_t(Hp * lay.rank_p), 0.0f);
  thread_local std::vector<int8_t> qh;
  qh.resize(size_t(quads * 4));
  for (int64_t h = 0; h < H; ++h) {
    const float* x = a.q + h * (rank + lay.rope);
    s.sq_lat[h] = quantize_query(x, rank, lay.rank_p, a.scale, qh.data(), s.corr_lat[h]);
    s.sq_rope[h] = quantize_query(x + rank, lay.rope, lay.rope_p, a.scale, qh.data() + lay.rank_p, s.corr_rope[h]);
    int32_t* dst = s.q8.data() + (h / L) * quads * L + h % L;
    for (int64_t kq = 0; kq < quads; ++kq) std::memcpy(dst + kq * L, qh.data() + kq * 4, 4);
  }
  s.mh.assign(size_t(Hp), -std::numeric_limits<float>::infinity());
  s.lh.assign(size_t(Hp), 0.0f);
  float *mh = s.mh.data(), *lh = s.lh.data();

  // Lane o of each 128-bit lane takes byte (o % 4) * 4 + o / 4: [row][col] -> [col][row] for 4 x 4.
  const __m512i transpose4 = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  const __m512i flip = _mm512_set1_epi8(int8_t(0x80));
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

  for (int64_t b0 = s0; b0 < s1; b0 += B) {
    const int64_t nb = std::min(B, s1 - b0), ng = (nb + L - 1) / L;
    const uint8_t* blk = a.cache.data + (b0 / L) * gbytes;
    const bool prefetch_next = b0 + B < s1;
    for (int64_t hg = 0; hg < HG; ++hg) {
      const int32_t* q8h = s.q8.data() + hg * L * quads;
      // Scores.
      for (int64_t gi = 0; gi < ng; ++gi) {
        const uint8_t* g = blk + gi * gbytes;
        const uint8_t* pf = hg == 0 && prefetch_next ? g + kGroups * gbytes : nullptr;
        const int64_t r0 = b0 + gi * L;
        const __m512 sl = _mm512_loadu_ps(a.cache.scale_lat + r0), sr = _mm512_loadu_ps(a.cache.scale_rope + r0);
        const __mmask16 valid = _mm512_cmplt_epi32_mask(lane, _mm512_set1_epi32(int32_t(s1 - r0)));
        __m512i acc[L];
#pragma GCC unroll 16
        for (int h = 0; h < L; ++h) acc[h] = _mm512_setzero_si512();
        score_quads(g, q8h, 0, kl, pf, acc);
        __m512 f[L];
#pragma GCC unroll 16
        for (int h = 0; h < L; ++h) {
          const int64_t hh = hg * L + h;
          const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[h], _mm512_set1_epi32(s.corr_lat[hh])));
          f[h] = _mm512_mul_ps(v, _mm512_mul_ps(sl, _mm512_set1_ps(s.sq_lat[hh])));
          acc[h] = _mm512_setzero_si512();
        }
        score_quads(g, q8h, kl, quads, pf, acc);
#pragma GCC unroll 16
        for (int h = 0; h < L; ++h) {
          const int64_t hh = hg * L + h;
          const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[h], _mm512_set1_epi32(s.corr_rope[hh])));
          const __m512 sc = _mm512_fmadd_ps(v, _mm512_mul_ps(sr, _mm512_set1_ps(s.sq_rope[hh])), f[h]);
          _mm512_store_ps(&s.sc[h][gi * L], _mm512_mask_blend_ps(valid, neg_inf, sc));
        }
      }
      // Online softmax per head; probabilities times the row's latent scale, quantized to u8.
      for (int64_t h = 0; h < L; ++h) {
        const int64_t hh = hg * L + h;
        __m512 v[kGroups];
        __m512 bmax = neg_inf;
        for (int64_t gi = 0; gi < ng; ++gi) bmax = _mm512_max_ps(bmax, v[gi] = _mm512_load_ps(&s.sc[h][gi * L]));
        const float nm = std::max(mh[hh], _mm512_reduce_max_ps(bmax));
        const float fo = std::exp(mh[hh] - nm);  // 0 on the first block (m = -inf)
        __m512 sum = _mm512_setzero_ps(), pmax = _mm512_setzero_ps();
        for (int64_t gi = 0; gi < ng; ++gi) {
          const __m512 p = simd::exp_nonpos(_mm512_sub_ps(v[gi], _mm512_set1_ps(nm)));
          sum = _mm512_add_ps(sum, p);
          v[gi] = _mm512_mul_ps(p, _mm512_loadu_ps(a.cache.scale_lat + b0 + gi * L));
          pmax = _mm512_max_ps(pmax, v[gi]);
        }
        lh[hh] = lh[hh] * fo + _mm512_reduce_add_ps(sum);
        mh[hh] = nm;
        const float pm = _mm512_reduce_max_ps(pmax);
        s.sp[h] = pm / 255.0f;
        const __m512 inv = _mm512_set1_ps(pm > 0.0f ? 255.0f / pm : 0.0f);
        for (int64_t gi = 0; gi < ng; ++gi)
          _mm_store_si128(reinterpret_cast<__m128i*>(&s.p8[h][gi * L]),
                          _mm512_cvtusepi32_epi8(_mm512_cvtps_epu32(_mm512_mul_ps(v[gi], inv))));
        if (fo != 1.0f) {
          float* oh = s.ot.data() + hh * lay.rank_p;
          for (int64_t d = 0; d < lay.rank_p; d += 16)
            _mm512_storeu_ps(oh + d, _mm512_mul_ps(_mm512_set1_ps(fo), _mm512_loadu_ps(oh + d)));
        }
      }
      // Values: 16 columns at a time, all heads of the group.
      for (int64_t c = 0; c < lay.rank_p / 16; ++c) {
        __m512i acc[L];
#pragma GCC unroll 16
        for (int h = 0; h < L; ++h) acc[h] = _mm512_setzero_si512();
        for (int64_t gi = 0; gi < ng; ++gi) {
          const uint8_t* g = blk + gi * gbytes + c * 4 * 64;
          for (int64_t rr = 0; rr < 4; ++rr) {
            if (gi * L + rr * 4 >= nb) break;
            const uint8_t* p = g + rr * 16;
            __m512i t = _mm512_castsi128_si512(_mm_load_si128(reinterpret_cast<const __m128i*>(p)));
            t = _mm512_inserti32x4(t, _mm_load_si128(reinterpret_cast<const __m128i*>(p + 64)), 1);
            t = _mm512_inserti32x4(t, _mm_load_si128(reinterpret_cast<const __m128i*>(p + 128)), 2);
            t = _mm512_inserti32x4(t, _mm_load_si128(reinterpret_cast<const __m128i*>(p + 192)), 3);
            t = _mm512_xor_si512(_mm512_shuffle_epi8(t, transpose4), flip);
            const int64_t j = gi * L + rr * 4;
#pragma GCC unroll 16
            for (int h = 0; h < L; ++h) {
              int32_t p4;
              std::memcpy(&p4, &s.p8[h][j], 4);
              acc[h] = _mm512_dpbusd_epi32(acc[h], _mm512_set1_epi32(p4), t);
            }
          }
        }
#pragma GCC unroll 16
        for (int h = 0; h < L; ++h) {
          float* oh = s.ot.data() + (hg * L + h) * lay.rank_p + c * 16;
          _mm512_storeu_ps(oh, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[h]), _mm512_set1_ps(s.sp[h]), _mm512_loadu_ps(oh)));
        }
      }
    }
  }
  for (int64_t h = 0; h < H; ++h) {
    m[h] = mh[h];
    l[h] = lh[h];
    std::memcpy(o + h * rank, s.ot.data() + h * lay.rank_p, size_t(rank) * 4);
  }
}

}  // namespace fathom::ops::detail
