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
//   values, heads in the lanes: the score phase's first pass over a block also writes its latent
//     lines rewritten (one vpermb and an xor per line) so that 4 rows of one column are a dword,
//     signed, into a block-sized scratch; then every product is one
//     vpdpbusd of a head vector of probabilities (u8, 4 rows per head, held in registers for the
//     whole block) with that dword as the instruction's broadcast memory operand (see values).
// Int32 never overflows: scores at most 255 * 127 per product and 4 * 144 products (DeepSeek's 576
// columns) per lane, values 255 * 127 * 64 rows.
//
// Where the time goes (kernel bench, long contexts): the score phase issues vpdpbusd near the
// register-only rate; the value phase was slower when it transposed in registers per tile (4
// shuffles, 4 vpermi2b, 4 xors and a broadcast load per product), hence the columns form below
// (bench/experiments/latent_values.cpp compares them; figures in docs/PERFORMANCE.md); softmax is
// a small share.
// Needs AVX512-VBMI (vpermb) besides VNNI: the avx512vbmi row of cpu/kernel_isa.def, which gives the
// flags; latent_attention dispatches here only when the CPU has that row (Ice Lake and later, Zen 4),
// otherwise to the dequantizing path.
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
  std::vector<float> ot;                    // [head group][rank_p][16 heads] weighted sums
  struct alignas(64) Line {
    uint8_t b[64];
  };
  std::vector<Line> vt;                     // the block's latent lines as signed (4 rows of a column) dwords
  alignas(64) int32_t pv[kGroups * 4][L];   // [row quad][head]: 4 u8 probabilities per head
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
// the same for group g + gb. A prefetch per line at pf (walking with g). Each query broadcast feeds
// two vpdpbusd, so a line pair and 8 broadcasts (10 loads) make 16 products, against 17 loads for
// one line and 16 heads.
//
// With Rewrite, the pass also writes the lines it reads in values' form (line_to_columns, then xor
// 0x80: the cache's u8 = c + 128 as the signed c): line i of group g to w + 64 i, of group g + gb to
// w + ws + 64 i. The lines are in registers here anyway, so the rewrite costs a permute, an xor and
// a store per line instead of a separate pass that loads the block again (a noticeable share of
// the kernel's time).
//
// GCC allows 30 asm operands and the 16 accumulators take 16, so everything that walks with the
// line pointer is addressed from it: the prefetch (pf - g) and the stores (w - g, w + ws - g).
#define FATHOM_SCORE2(h, h8) \
  "vpbroadcastd " #h "*4(%[q]), %[b]\n\t" "vpdpbusd %[b], %[a0], %" #h "\n\t" "vpdpbusd %[b], %[a1], %" #h8 "\n\t"
#define FATHOM_SCORE_LOAD "1:\n\tprefetcht1 (%[g],%[pfd])\n\tvmovdqa64 (%[g]), %[a0]\n\tvmovdqa64 (%[g],%[gb]), %[a1]\n\t"
#define FATHOM_SCORE_DOTS                                                                                       \
  FATHOM_SCORE2(0, 8) FATHOM_SCORE2(1, 9) FATHOM_SCORE2(2, 10) FATHOM_SCORE2(3, 11) FATHOM_SCORE2(4, 12)         \
  FATHOM_SCORE2(5, 13) FATHOM_SCORE2(6, 14) FATHOM_SCORE2(7, 15)                                                \
  "add $64, %[g]\n\tadd $64, %[q]\n\tcmp %[end], %[g]\n\tjne 1b"
#define FATHOM_SCORE_OPERANDS \
  FATHOM_ACC16(acc), [a0] "=&v"(a0), [a1] "=&v"(a1), [b] "=&v"(b), [g] "+r"(g), [q] "+r"(q)
template <bool Rewrite>
[[gnu::always_inline]] inline void score_pairs(const uint8_t* g, int64_t gb, const int32_t* q, int64_t n,
                                               const uint8_t* pf, __m512i acc[L], uint8_t* w = nullptr,
                                               int64_t ws = 0, __m512i idx = _mm512_setzero_si512(),
                                               __m512i flip = _mm512_setzero_si512()) {
  const int64_t pfd = pf - g;
  const uint8_t* const end = g + 64 * n;
  __m512i a0, a1, b;
  if constexpr (Rewrite) {
    const int64_t wd = w - g, wd2 = w + ws - g;
    asm volatile(FATHOM_ZERO16 FATHOM_SCORE_LOAD
                 "vpermb %[a0], %[idx], %[b]\n\tvpxord %[flip], %[b], %[b]\n\tvmovdqa64 %[b], (%[g],%[wd])\n\t"
                 "vpermb %[a1], %[idx], %[b]\n\tvpxord %[flip], %[b], %[b]\n\tvmovdqa64 %[b], (%[g],%[wd2])\n\t"
                 FATHOM_SCORE_DOTS
                 : FATHOM_SCORE_OPERANDS
                 : [gb] "r"(gb), [pfd] "r"(pfd), [end] "r"(end), [wd] "r"(wd), [wd2] "r"(wd2), [idx] "v"(idx),
                   [flip] "v"(flip)
                 : "cc", "memory");
  } else {
    // Reads declared as "m" inputs, not a "memory" clobber: with the clobber GCC reloaded every
    // pointer and spilled the sums around each call.
    asm(FATHOM_ZERO16 FATHOM_SCORE_LOAD FATHOM_SCORE_DOTS
        : FATHOM_SCORE_OPERANDS
        : [gb] "r"(gb), [pfd] "r"(pfd), [end] "r"(end), "m"(*(const uint8_t(*)[])g), "m"(*(const int32_t(*)[])q)
        : "cc");
  }
}
#undef FATHOM_SCORE2
#undef FATHOM_SCORE_LOAD
#undef FATHOM_SCORE_DOTS
#undef FATHOM_SCORE_OPERANDS

// Values for one block and 16 heads: o[c][h] = o[c][h] * fo[h] + sp[h] * Σ over the block's rows r
// of p[h][r] * x[r][c], for every latent column c (o: [rank_p][16 heads], chunks of 8 columns).
//
// vt holds the block's latent part as score_pairs<true> wrote it: row group g's lines at
// vt + g * group_stride, one after another, so that for a chunk of 8 columns the dword at
// 16 k + 4 q of the chunk's 128 bytes holds rows 4q..4q+3 (of the group) of column k as signed
// bytes. pv[rr] holds, for row quad rr of the block, each head's 4 probabilities (u8) in that
// head's lane. With heads in the lanes, an accumulator is one column of
// 16 heads, the 16 probability vectors stay in registers for the whole block (zmm16-31), and each
// product is a single vpdpbusd whose signed operand is a broadcast dword straight from vt: no
// shuffles, no separate broadcast. 8 columns (zmm0-7) x 16 row quads = 128 products per chunk,
// then the epilogue (convert, rescale the sums so far by fo, add sp times the new ones).
//
// One asm block for the whole loop: it names its registers itself (GCC's 30-operand limit rules
// out passing 16 vectors and 8 accumulators as operands, and GCC 12 copies accumulators around
// intrinsic vpdpbusd calls; see above).
static_assert(kGroups == 4, "values keeps one probability vector per row quad of a block in zmm16-31");
#define FATHOM_VD(k, q, g, P) "vpdpbusd " #k "*16+" #q "*4(%[v" #g "])%{1to16%}, %%zmm" #P ", %%zmm" #k "\n\t"
#define FATHOM_V8(q, g, P)                                                                                  \
  FATHOM_VD(0, q, g, P) FATHOM_VD(1, q, g, P) FATHOM_VD(2, q, g, P) FATHOM_VD(3, q, g, P) FATHOM_VD(4, q, g, P) \
  FATHOM_VD(5, q, g, P) FATHOM_VD(6, q, g, P) FATHOM_VD(7, q, g, P)
#define FATHOM_VG(g, P0, P1, P2, P3) FATHOM_V8(0, g, P0) FATHOM_V8(1, g, P1) FATHOM_V8(2, g, P2) FATHOM_V8(3, g, P3)
#define FATHOM_LP(i, P) "vmovdqa64 " #i "*64(%[p]), %%zmm" #P "\n\t"
#define FATHOM_Z(k) "vpxord %%zmm" #k ", %%zmm" #k ", %%zmm" #k "\n\t"
#define FATHOM_E(k)                                                                             \
  "vcvtdq2ps %%zmm" #k ", %%zmm" #k "\n\t"                                                      \
  "vmulps " #k "*64(%[o]), %%zmm9, %%zmm8\n\t"                                                  \
  "vfmadd231ps %%zmm10, %%zmm" #k ", %%zmm8\n\t"                                                \
  "vmovups %%zmm8, " #k "*64(%[o])\n\t"
void values(const uint8_t* vt, int64_t group_stride, const int32_t (*pv)[L], float* o, int64_t chunks, const float* fo,
            const float* sp) {
  const uint8_t *v0 = vt, *v1 = vt + group_stride, *v2 = vt + 2 * group_stride, *v3 = vt + 3 * group_stride;
  asm volatile(
      FATHOM_LP(0, 16) FATHOM_LP(1, 17) FATHOM_LP(2, 18) FATHOM_LP(3, 19) FATHOM_LP(4, 20) FATHOM_LP(5, 21)
      FATHOM_LP(6, 22) FATHOM_LP(7, 23) FATHOM_LP(8, 24) FATHOM_LP(9, 25) FATHOM_LP(10, 26) FATHOM_LP(11, 27)
      FATHOM_LP(12, 28) FATHOM_LP(13, 29) FATHOM_LP(14, 30) FATHOM_LP(15, 31)
      "vmovups (%[fo]), %%zmm9\n\t"
      "vmovups (%[sp]), %%zmm10\n\t"
      "1:\n\t"
      FATHOM_Z(0) FATHOM_Z(1) FATHOM_Z(2) FATHOM_Z(3) FATHOM_Z(4) FATHOM_Z(5) FATHOM_Z(6) FATHOM_Z(7)
      FATHOM_VG(0, 16, 17, 18, 19) FATHOM_VG(1, 20, 21, 22, 23) FATHOM_VG(2, 24, 25, 26, 27)
      FATHOM_VG(3, 28, 29, 30, 31)
      FATHOM_E(0) FATHOM_E(1) FATHOM_E(2) FATHOM_E(3) FATHOM_E(4) FATHOM_E(5) FATHOM_E(6) FATHOM_E(7)
      "add $128, %[v0]\n\t"
      "add $128, %[v1]\n\t"
      "add $128, %[v2]\n\t"
      "add $128, %[v3]\n\t"
      "add $512, %[o]\n\t"
      "dec %[n]\n\t"
      "jnz 1b"
      : [v0] "+r"(v0), [v1] "+r"(v1), [v2] "+r"(v2), [v3] "+r"(v3), [o] "+r"(o), [n] "+r"(chunks)
      : [p] "r"(pv), [fo] "r"(fo), [sp] "r"(sp)
      : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27",
        "xmm28", "xmm29", "xmm30", "xmm31");
}
#undef FATHOM_VD
#undef FATHOM_V8
#undef FATHOM_VG
#undef FATHOM_LP
#undef FATHOM_Z
#undef FATHOM_E

// The byte permute that turns a cache line (16 rows x 4 columns, byte 4 r + j) into values' form:
// byte 16 j + 4 (r / 4) + r % 4, so each dword is 4 rows of one column.
__m512i line_to_columns() {
  struct Table {
    alignas(64) uint8_t b[64];
    Table() {
      for (int j = 0; j < 4; ++j)
        for (int q = 0; q < 4; ++q)
          for (int m = 0; m < 4; ++m) b[16 * j + 4 * q + m] = uint8_t(4 * (4 * q + m) + j);
    }
  };
  static const Table table;
  return _mm512_load_si512(table.b);
}

#undef FATHOM_ZERO
#undef FATHOM_ZERO16
#undef FATHOM_ACC16
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

void latent_partial_q8_avx512vbmi(const LatentAttentionQ8& a, int64_t s0, int64_t s1, float* m, float* l, float* o) {
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
  s.vt.resize(size_t(kGroups * kl));  // kl lines per row group
  const int64_t vt_stride = kl * 64;
  uint8_t* const vt = s.vt.data()->b;
  const __m512i to_columns = line_to_columns(), flip = _mm512_set1_epi8(int8_t(0x80));
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
        const __mmask16 valid[2] = {_mm512_cmplt_epi32_mask(lane, _mm512_set1_epi32(int32_t(s1 - r0))),
                                    _mm512_cmplt_epi32_mask(lane, _mm512_set1_epi32(int32_t(s1 - r0 - L)))};
        // Masked: the scales of rows past s1 may lie past the end of the cache's scale arrays.
        const __m512 sl[2] = {_mm512_maskz_loadu_ps(valid[0], a.cache.scale_lat + r0),
                              _mm512_maskz_loadu_ps(valid[1], a.cache.scale_lat + r0 + L)};
        const __m512 sr[2] = {_mm512_maskz_loadu_ps(valid[0], a.cache.scale_rope + r0),
                              _mm512_maskz_loadu_ps(valid[1], a.cache.scale_rope + r0 + L)};
        for (int64_t half = 0; half < 2; ++half) {
          // The next block's lines, once (first head group; each half one of the two groups);
          // otherwise the lines at hand, a no-op.
          const uint8_t* pf = hg == 0 && prefetch_next ? g + half * gb + kGroups * gbytes : g;
          const int64_t h0 = hg * L + half * 8;
          __m512i acc[L];
          if (hg == 0 && half == 0)  // the first pass over these lines also writes values' copy
            score_pairs<true>(g, gb, q8h + half * 8, kl, pf, acc, vt + gi * vt_stride, gb ? vt_stride : 0, to_columns,
                              flip);
          else
            score_pairs<false>(g, gb, q8h + half * 8, kl, pf, acc);
          __m512 f[L];
#pragma GCC unroll 16
          for (int j = 0; j < L; ++j) {
            const int64_t hh = h0 + j % 8;
            const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[j], _mm512_set1_epi32(s.corr_lat[hh])));
            f[j] = _mm512_mul_ps(v, _mm512_mul_ps(sl[j / 8], _mm512_set1_ps(s.sq_lat[hh])));
          }
          if (quads > kl) {
            score_pairs<false>(g + kl * 64, gb, q8h + kl * L + half * 8, quads - kl, pf + kl * 64, acc);
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
      // Values, all columns for the 16 heads of the group; the online softmax's rescaling of the
      // sums so far (fo) is applied in the same pass over them. Row quads past the block's last
      // group get probability 0 (p8 there is left from an earlier block).
      const __m512i head_rows = _mm512_mullo_epi32(lane, _mm512_set1_epi32(int32_t(B)));  // p8[h][0], bytes
      for (int64_t rr = 0; rr < kGroups * 4; ++rr) {
        const __m512i at = _mm512_add_epi32(head_rows, _mm512_set1_epi32(int32_t(4 * rr)));
        _mm512_store_si512(s.pv[rr], rr < ng * 4 ? _mm512_i32gather_epi32(at, &s.p8[0][0], 1) : _mm512_setzero_si512());
      }
      values(vt, vt_stride, s.pv, s.ot.data() + hg * lay.rank_p * L, lay.rank_p / 8, s.fo, s.sp);
    }
  }
  for (int64_t h = 0; h < H; ++h) {
    m[h] = mh[h];
    l[h] = lh[h];
    const float* src = s.ot.data() + (h / L) * lay.rank_p * L + h % L;
    for (int64_t c = 0; c < rank; ++c) o[h * rank + c] = src[c * L];
  }
}

}  // namespace fathom::ops::detail
