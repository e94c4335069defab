// AVX-512 VNNI kernel for ops::latent_attention over the 8-bit cache (ops/quant/latent_q8.h).
//
// With 16 heads every f32 cache value feeds exactly one FMA, so the f32 kernel issues a broadcast
// load per FMA and stalls at half the FMA rate; at 16K positions it, not memory, sets the cost of
// long contexts. Here both phases are int8 dot products, vpdpbusd: 64 multiply-adds per
// instruction against 16, on a quarter of the bytes.
//
//   scores, 16 rows x 16 heads: the cache's 64-byte line (4 columns of 16 rows, u8 = c + 128) is the
//     unsigned operand, the head's 4 int8 query values at those columns the broadcast signed one;
//     rows in the lanes, two row groups x 8 heads per pass so each query broadcast feeds two
//     products. c + 128 adds 128 * Σq per head, taken off once. The latent and rope parts sum
//     separately (each has its own row scale and query scale).
//   online softmax per head over a block of 64 rows, then p' = p * (row's latent scale) quantized to
//     u8 per head and block (scale max p' / 255).
//   values, 16 columns x 16 heads: the tile's four lines per row group are shuffled into four
//     vectors of (4 rows of one column) per lane (vpermi2b, see value_tile), xor 0x80 makes them
//     signed, and each head's 4 probabilities (u8) are the broadcast unsigned operand.
// Int32 never overflows: scores at most 255 * 127 per product and 4 * 144 products (DeepSeek's 576
// columns) per lane, values 255 * 127 * 64 rows.
//
// Where the time goes (kernel bench, 16K positions, one thread, cache resident): the score phase
// issues vpdpbusd at the core's register-only rate (~5/ns); the value phase at ~3/ns, bound by
// loads (a broadcast per product); softmax ~10%.
// Needs AVX512-VBMI (vpermi2b) besides VNNI; latent_attention dispatches here only when the CPU has
// both (Ice Lake and later, Zen 4), otherwise to the dequantizing path.
#pragma GCC target("avx512vbmi")
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
  float fo[L];                              // the factor the sums so far take (new max)
};

// Quantizes n values of x (times scale) to int8 at q[0..np) (bytes, zero past n), returns the
// scale, sets corr. Vector code: with 16 heads this runs on 9,216 values per call, and as scalar
// code with nearbyint it was a third of a 256-position call. Rounding is to nearest even, as
// nearbyint's in the default mode.
float quantize_query(const float* x, int64_t n, int64_t np, float scale, int8_t* q, int32_t& corr) {
  const __m512 sc = _mm512_set1_ps(scale);
  __m512 amax = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sc)));
  }
  const float am = _mm512_reduce_max_ps(amax);
  const __m512 inv = _mm512_set1_ps(am > 0.0f ? 127.0f / am : 0.0f);
  __m512i sum = _mm512_setzero_si512();
  for (int64_t i = 0; i < np; i += 16) {
    const int64_t left = std::max<int64_t>(0, n - i), w = std::min<int64_t>(16, np - i);
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sc), inv));
    v = _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
    sum = _mm512_add_epi32(sum, v);
    _mm_mask_storeu_epi8(q + i, __mmask16((1u << w) - 1), _mm512_cvtepi32_epi8(v));
  }
  corr = 128 * _mm512_reduce_add_epi32(sum);
  return am / 127.0f;
}

// The two inner loops are written as inline asm. GCC 12 compiles _mm512_dpbusd_epi32 as a
// three-operand value: with 16 accumulators live across a loop it copied every accumulator to a
// new register on each multiply (two moves per vpdpbusd), spilled constants, and did not fold the
// query broadcast into the instruction — about twice the instructions of the loop below, in a
// kernel that should be almost nothing but vpdpbusd. Each helper zeroes 16 accumulators, runs its
// whole loop in registers and hands the sums back. The memory they read is declared as "m" inputs
// of unknown size (GCC's documented idiom) rather than a "memory" clobber, which made GCC reload
// every pointer and spill the sums around each call.
#define FATHOM_ZERO(h) "vpxord %" #h ", %" #h ", %" #h "\n\t"
#define FATHOM_ZERO16                                                                                       \
  FATHOM_ZERO(0) FATHOM_ZERO(1) FATHOM_ZERO(2) FATHOM_ZERO(3) FATHOM_ZERO(4) FATHOM_ZERO(5) FATHOM_ZERO(6) \
  FATHOM_ZERO(7) FATHOM_ZERO(8) FATHOM_ZERO(9) FATHOM_ZERO(10) FATHOM_ZERO(11) FATHOM_ZERO(12)             \
  FATHOM_ZERO(13) FATHOM_ZERO(14) FATHOM_ZERO(15)
#define FATHOM_ACC16(acc)                                                                                   \
  "=&v"(acc[0]), "=&v"(acc[1]), "=&v"(acc[2]), "=&v"(acc[3]), "=&v"(acc[4]), "=&v"(acc[5]), "=&v"(acc[6]), \
  "=&v"(acc[7]), "=&v"(acc[8]), "=&v"(acc[9]), "=&v"(acc[10]), "=&v"(acc[11]), "=&v"(acc[12]),           \
  "=&v"(acc[13]), "=&v"(acc[14]), "=&v"(acc[15])

// Scores for two row groups and 8 heads: acc[j] (j < 8) = Σ over n lines of group g (64 bytes
// each: 16 rows x 4 columns, u8) · head j's 4 query bytes (q: [line][16 heads] int32); acc[8 + j]
// the same for group g + gb. pf walks ahead with a prefetch per line. Each query broadcast feeds two vpdpbusd, so a line pair and 8 broadcasts (10
// loads) make 16 products, against 17 loads for one line and 16 heads.
#define FATHOM_SCORE2(h, h8) \
  "vpbroadcastd " #h "*4(%[q]), %[b]\n\t" "vpdpbusd %[b], %[a0], %" #h "\n\t" "vpdpbusd %[b], %[a1], %" #h8 "\n\t"
[[gnu::always_inline]] inline void score_pairs(const uint8_t* g, int64_t gb, const int32_t* q, int64_t n,
                                               const uint8_t* pf, __m512i acc[L]) {
  __m512i a0, a1, b;
  asm(FATHOM_ZERO16
      "1:\n\t"
      "prefetcht1 (%[pf])\n\t"
      "vmovdqa64 (%[g]), %[a0]\n\t"
      "vmovdqa64 (%[g],%[gb]), %[a1]\n\t"
      FATHOM_SCORE2(0, 8) FATHOM_SCORE2(1, 9) FATHOM_SCORE2(2, 10) FATHOM_SCORE2(3, 11)
      FATHOM_SCORE2(4, 12) FATHOM_SCORE2(5, 13) FATHOM_SCORE2(6, 14) FATHOM_SCORE2(7, 15)
      "add $64, %[g]\n\t"
      "add $64, %[q]\n\t"
      "add $64, %[pf]\n\t"
      "dec %[n]\n\t"
      "jnz 1b"
      : FATHOM_ACC16(acc), [a0] "=&v"(a0), [a1] "=&v"(a1), [b] "=&v"(b), [g] "+r"(g), [q] "+r"(q), [pf] "+r"(pf),
        [n] "+r"(n)
      : [gb] "r"(gb), "m"(*(const uint8_t(*)[])g), "m"(*(const int32_t(*)[])q)
      : "cc");
}

// Values for one tile of 16 columns: o[h * ostride + c] (c < 16) = o * fo[h] + sp[h] * Σ over the
// 16 rows of each of ng groups (g: the tile's first line in the first group, groups gbytes apart)
// of head h's u8 probability (p: [16 heads][64 rows]) times the signed cache byte.
//
// The four lines of a tile in a group (column quads 0..3, each 16 rows x 4 columns) become four
// vectors of (4 rows of one column) per lane, one per 4 rows: two 128-bit-lane shuffles pair the
// lines' halves (rows 0-7 of quads 0-1, of quads 2-3, rows 8-15 likewise) and one two-source byte
// permute (vpermi2b, AVX512-VBMI) per vector picks and transposes; the xor makes the bytes signed.
// 4 loads and 8 shuffles per 64 products, against 16 loads and 16 shuffles assembling each vector
// from 16-byte pieces.
//
// Accumulators are 16 named variables and the products are asm with "+v" operands: GCC 12 turns
// _mm512_dpbusd_epi32 on an array of 16 accumulators into two register copies per product and
// keeps the array in memory (see above).
#define FATHOM_DOT(h) "vpbroadcastd " #h "*64(%[p]), %[b]\n\tvpdpbusd %[t], %[b], %" #h "\n\t"
#define FATHOM_DOT8(h0, a0, a1, a2, a3, a4, a5, a6, a7, tv, pp)                                                  \
  asm(FATHOM_DOT(0) FATHOM_DOT(1) FATHOM_DOT(2) FATHOM_DOT(3) FATHOM_DOT(4) FATHOM_DOT(5) FATHOM_DOT(6)          \
          FATHOM_DOT(7)                                                                                          \
      : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7), [b] "=&v"(bc)           \
      : [t] "v"(tv), [p] "r"((pp) + (h0) * 64), "m"(*(const uint8_t(*)[])((pp) + (h0) * 64)))
[[gnu::always_inline]] inline void value_tile(const uint8_t* g, int64_t gbytes, const uint8_t* p, int64_t ng,
                                              const __m512i idx[2], __m512i flip, float* o, int64_t ostride,
                                              const float* sp, const float* fo) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
          a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0, bc;
  for (int64_t gi = 0; gi < ng; ++gi, g += gbytes, p += 16) {
    const __m512i l0 = _mm512_load_si512(g), l1 = _mm512_load_si512(g + 64), l2 = _mm512_load_si512(g + 128),
                  l3 = _mm512_load_si512(g + 192);
    // [rows 0-7 of l0, rows 0-7 of l1], [rows 8-15 of l0, of l1]; the same for l2, l3.
    const __m512i x_lo = _mm512_shuffle_i64x2(l0, l1, 0x44), x_hi = _mm512_shuffle_i64x2(l0, l1, 0xEE);
    const __m512i y_lo = _mm512_shuffle_i64x2(l2, l3, 0x44), y_hi = _mm512_shuffle_i64x2(l2, l3, 0xEE);
    const __m512i t[4] = {_mm512_xor_si512(_mm512_permutex2var_epi8(x_lo, idx[0], y_lo), flip),
                          _mm512_xor_si512(_mm512_permutex2var_epi8(x_lo, idx[1], y_lo), flip),
                          _mm512_xor_si512(_mm512_permutex2var_epi8(x_hi, idx[0], y_hi), flip),
                          _mm512_xor_si512(_mm512_permutex2var_epi8(x_hi, idx[1], y_hi), flip)};
#pragma GCC unroll 4
    for (int rr = 0; rr < 4; ++rr) {
      FATHOM_DOT8(0, a0, a1, a2, a3, a4, a5, a6, a7, t[rr], p + rr * 4);
      FATHOM_DOT8(8, a8, a9, a10, a11, a12, a13, a14, a15, t[rr], p + rr * 4);
    }
  }
#define FATHOM_OUT(h)                                                                                          \
  _mm512_storeu_ps(o + h * ostride, _mm512_fmadd_ps(_mm512_cvtepi32_ps(a##h), _mm512_set1_ps(sp[h]),           \
                                                    _mm512_mul_ps(_mm512_loadu_ps(o + h * ostride), _mm512_set1_ps(fo[h]))));
  FATHOM_OUT(0) FATHOM_OUT(1) FATHOM_OUT(2) FATHOM_OUT(3) FATHOM_OUT(4) FATHOM_OUT(5) FATHOM_OUT(6) FATHOM_OUT(7)
  FATHOM_OUT(8) FATHOM_OUT(9) FATHOM_OUT(10) FATHOM_OUT(11) FATHOM_OUT(12) FATHOM_OUT(13) FATHOM_OUT(14) FATHOM_OUT(15)
#undef FATHOM_OUT
}
#undef FATHOM_ZERO
#undef FATHOM_ZERO16
#undef FATHOM_ACC16
#undef FATHOM_SCORE2
#undef FATHOM_DOT
#undef FATHOM_DOT8

// out[h] = max (Max) or sum of the 16 lanes of x[h], for 16 vectors: four rounds, each halving
// the lanes per head by pairing vectors with a shuffle, 45 instructions against 16 horizontal
// reductions. The rounds leave head X[e] + Q[q] in lane 4q + e (X = 0,2,1,3; Q = 0,8,4,12); one
// permute puts the heads in order. (Exercised by every q8 attention test: a wrong lane gives a
// head another head's softmax.)
template <bool Max>
__m512 reduce16(const __m512 x[L]) {
  auto op = [](__m512 a, __m512 b) { return Max ? _mm512_max_ps(a, b) : _mm512_add_ps(a, b); };
  __m512 w[8], y[4], z[2];
  for (int i = 0; i < 8; ++i)  // 256-bit halves: head i in lanes 0-7, head i + 8 in lanes 8-15
    w[i] = op(_mm512_shuffle_f32x4(x[i], x[i + 8], 0x44), _mm512_shuffle_f32x4(x[i], x[i + 8], 0xEE));
  for (int i = 0; i < 4; ++i)  // 128-bit lanes: heads i, i + 8, i + 4, i + 12
    y[i] = op(_mm512_shuffle_f32x4(w[i], w[i + 4], 0x88), _mm512_shuffle_f32x4(w[i], w[i + 4], 0xDD));
  for (int i = 0; i < 2; ++i)  // pairs of elements: y[i]'s head, then y[i + 2]'s
    z[i] = op(_mm512_shuffle_ps(y[i], y[i + 2], 0x44), _mm512_shuffle_ps(y[i], y[i + 2], 0xEE));
  const __m512 r = op(_mm512_shuffle_ps(z[0], z[1], 0x88), _mm512_shuffle_ps(z[0], z[1], 0xDD));
  // Lane of head h (the map is its own inverse).
  const __m512i from = _mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15);
  return _mm512_permutexvar_ps(from, r);
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

  // value_tile's byte permutes: output byte (column c = 4 cq + j, row m of 4) of rows 4 rr..4 rr+3
  // comes from line cq's byte (row 4 rr + m, column j); in the paired halves that is table cq / 2,
  // offset (cq % 2) * 32 + (rr % 2) * 16 + 4 m + j.
  // A constant table, built once.
  struct PermuteTable {
    alignas(64) uint8_t b[2][64];
    PermuteTable() {
      for (int rr = 0; rr < 2; ++rr)
        for (int cq = 0; cq < 4; ++cq)
          for (int j = 0; j < 4; ++j)
            for (int m = 0; m < 4; ++m) b[rr][cq * 16 + j * 4 + m] = uint8_t((cq / 2) * 64 + (cq % 2) * 32 + rr * 16 + m * 4 + j);
    }
  };
  static const PermuteTable idx_bytes;
  const __m512i idx[2] = {_mm512_load_si512(idx_bytes.b[0]), _mm512_load_si512(idx_bytes.b[1])};
  const __m512i flip = _mm512_set1_epi8(int8_t(0x80));
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

  for (int64_t b0 = s0; b0 < s1; b0 += B) {
    const int64_t nb = std::min(B, s1 - b0), ng = (nb + L - 1) / L;
    const uint8_t* blk = a.cache.data + (b0 / L) * gbytes;
    const bool prefetch_next = b0 + B < s1;
    for (int64_t hg = 0; hg < HG; ++hg) {
      const int32_t* q8h = s.q8.data() + hg * L * quads;
      // Scores, two row groups and 8 heads per pass.
      for (int64_t gi = 0; gi < ng; gi += 2) {
        const uint8_t* g = blk + gi * gbytes;
        const int64_t gb = gi + 1 < ng ? gbytes : 0;  // an odd last group is paired with itself
        const int64_t r0 = b0 + gi * L;
        const __m512 sl[2] = {_mm512_loadu_ps(a.cache.scale_lat + r0), _mm512_loadu_ps(a.cache.scale_lat + r0 + L)};
        const __m512 sr[2] = {_mm512_loadu_ps(a.cache.scale_rope + r0), _mm512_loadu_ps(a.cache.scale_rope + r0 + L)};
        const __mmask16 valid[2] = {_mm512_cmplt_epi32_mask(lane, _mm512_set1_epi32(int32_t(s1 - r0))),
                                    _mm512_cmplt_epi32_mask(lane, _mm512_set1_epi32(int32_t(s1 - r0 - L)))};
        for (int64_t half = 0; half < 2; ++half) {
          // The next block's lines, once (first head group; each half one of the two groups);
          // otherwise the lines at hand, a no-op.
          const uint8_t* pf = hg == 0 && prefetch_next ? g + half * gb + kGroups * gbytes : g;
          const int64_t h0 = hg * L + half * 8;
          __m512i acc[L];
          score_pairs(g, gb, q8h + half * 8, kl, pf, acc);
          __m512 f[L];
#pragma GCC unroll 16
          for (int j = 0; j < L; ++j) {
            const int64_t hh = h0 + j % 8;
            const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[j], _mm512_set1_epi32(s.corr_lat[hh])));
            f[j] = _mm512_mul_ps(v, _mm512_mul_ps(sl[j / 8], _mm512_set1_ps(s.sq_lat[hh])));
          }
          if (quads > kl) {
            score_pairs(g + kl * 64, gb, q8h + kl * L + half * 8, quads - kl, pf + kl * 64, acc);
          } else {
#pragma GCC unroll 16
            for (int j = 0; j < L; ++j) acc[j] = _mm512_setzero_si512();
          }
#pragma GCC unroll 16
          for (int j = 0; j < L; ++j) {
            const int64_t hh = h0 + j % 8;
            if (j >= 8 && gb == 0) break;
            const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[j], _mm512_set1_epi32(s.corr_rope[hh])));
            const __m512 sc = _mm512_fmadd_ps(v, _mm512_mul_ps(sr[j / 8], _mm512_set1_ps(s.sq_rope[hh])), f[j]);
            _mm512_store_ps(&s.sc[half * 8 + j % 8][(gi + j / 8) * L], _mm512_mask_blend_ps(valid[j / 8], neg_inf, sc));
          }
        }
      }
      // Online softmax, 16 heads at a time: the per-head reductions (block max, sum, max of p')
      // go through one 16-to-1 transposing reduction each instead of 16 horizontal ones.
      __m512 v[L][kGroups];
      __m512 part[L];
      for (int h = 0; h < L; ++h) {
        part[h] = neg_inf;
        for (int64_t gi = 0; gi < ng; ++gi) part[h] = _mm512_max_ps(part[h], v[h][gi] = _mm512_load_ps(&s.sc[h][gi * L]));
      }
      const __m512 m_old = _mm512_loadu_ps(mh + hg * L);
      const __m512 m_new = _mm512_max_ps(m_old, reduce16<true>(part));
      const __m512 fo = simd::exp_nonpos(_mm512_sub_ps(m_old, m_new));  // ~0 on the first block (m = -inf)
      _mm512_storeu_ps(mh + hg * L, m_new);
      _mm512_store_ps(s.fo, fo);
      alignas(64) float nm[L];
      _mm512_store_ps(nm, m_new);
      __m512 sum[L];
      for (int h = 0; h < L; ++h) {
        sum[h] = _mm512_setzero_ps();
        part[h] = _mm512_setzero_ps();
        for (int64_t gi = 0; gi < ng; ++gi) {
          const __m512 p = simd::exp_nonpos(_mm512_sub_ps(v[h][gi], _mm512_set1_ps(nm[h])));
          sum[h] = _mm512_add_ps(sum[h], p);
          v[h][gi] = _mm512_mul_ps(p, _mm512_loadu_ps(a.cache.scale_lat + b0 + gi * L));
          part[h] = _mm512_max_ps(part[h], v[h][gi]);
        }
      }
      _mm512_storeu_ps(lh + hg * L, _mm512_fmadd_ps(_mm512_loadu_ps(lh + hg * L), fo, reduce16<false>(sum)));
      const __m512 pm = reduce16<true>(part);
      _mm512_store_ps(s.sp, _mm512_div_ps(pm, _mm512_set1_ps(255.0f)));
      alignas(64) float inv[L];
      _mm512_store_ps(inv, _mm512_maskz_div_ps(_mm512_cmp_ps_mask(pm, _mm512_setzero_ps(), _CMP_GT_OQ),
                                               _mm512_set1_ps(255.0f), pm));
      for (int h = 0; h < L; ++h)
        for (int64_t gi = 0; gi < ng; ++gi)
          _mm_store_si128(reinterpret_cast<__m128i*>(&s.p8[h][gi * L]),
                          _mm512_cvtusepi32_epi8(_mm512_cvtps_epu32(_mm512_mul_ps(v[h][gi], _mm512_set1_ps(inv[h])))));
      // Values: 16 columns at a time, all heads of the group; the online softmax's rescaling of
      // the sums so far (fo) is applied here, in the same pass over them.
      float* const og = s.ot.data() + hg * L * lay.rank_p;
      for (int64_t c = 0; c < lay.rank_p / 16; ++c)
        value_tile(blk + c * 4 * 64, gbytes, &s.p8[0][0], ng, idx, flip, og + c * 16, lay.rank_p, s.sp, s.fo);
    }
  }
  for (int64_t h = 0; h < H; ++h) {
    m[h] = mh[h];
    l[h] = lh[h];
    std::memcpy(o + h * rank, s.ot.data() + h * lay.rank_p, size_t(rank) * 4);
  }
}

}  // namespace fathom::ops::detail
