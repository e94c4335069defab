// AVX-512 kernels for ops::matmul (F/BW/VL/DQ + VNNI; this file gets AVX-512 compile flags and is
// only entered when cpu::isa_supported(Isa::Avx512)).
//   decode, n <= kGemvMaxTokens: GEMV streaming each weight row once; float formats are decoded
//     exactly to f32 and FMA'd; Q8_0/Q4_0 dot int8 activations (quantized in prepare()) with
//     vpdpbusd over block-interleaved weights, per-block scales applied once per 16 blocks in f32.
//   prefill, n > kGemvMaxTokens: GEMM. Float formats: a 64-row x KC-column weight panel is decoded
//     to f32 and transposed to [k][64 rows] once, then serves every token: 6 tokens x 64 rows of
//     accumulators (24 zmm), one broadcast of X per token and k. Q8_0/Q4_0, and F8_E4M3 converted
//     to Q8_0 a row panel at a time: int8 activations and vpdpbusd (gemm_int8_avx512.cpp).
//   BF16 and F8_E4M3 decode: gemv_float_avx512.cpp, and gemv_fp8_avx512vbmi.cpp (F8_E4M3 with VBMI).
// GCC 12 warns inside its own _mm512_reduce_* / masked-load headers (undefined-vector idiom).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "cpu/kernel_isa.h"
#include "ops/gemm_int8.h"
#include "ops/gemv_act_layout.h"
#include "ops/gemv_float.h"
#include "ops/matmul.h"
#include "ops/matmul_kernels.h"
#include "ops/quant/q4_0.h"
#include "ops/quant/q8_0.h"

namespace fathom::ops::detail {
namespace {

inline __mmask16 tail_mask16(int64_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1); }

// ---- Decoders: 16 consecutive weights of one row, as exact f32 -------------------------------
// load(k, m): weights k..k+15 (lanes outside m are zero). k is a multiple of 16. (Q8_0 / Q4_0 are
// never decoded to f32 here: their GEMV and GEMM run on int8, see below and gemm_int8_avx512.cpp.)
template <WFormat F>
struct Dec;

template <>
struct Dec<WFormat::F32> {
  const float* p;
  Dec(const WeightMatrix& W, int64_t r) : p(static_cast<const float*>(W.data) + r * W.cols) {}
  __m512 load(int64_t k, __mmask16 m) const { return _mm512_maskz_loadu_ps(m, p + k); }
};

template <>
struct Dec<WFormat::F16> {
  const uint16_t* p;
  Dec(const WeightMatrix& W, int64_t r) : p(static_cast<const uint16_t*>(W.data) + r * W.cols) {}
  __m512 load(int64_t k, __mmask16 m) const { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p + k)); }
};

template <>
struct Dec<WFormat::BF16> {
  const uint16_t* p;
  Dec(const WeightMatrix& W, int64_t r) : p(static_cast<const uint16_t*>(W.data) + r * W.cols) {}
  __m512 load(int64_t k, __mmask16 m) const {
    const __m512i u = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p + k));
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
  }
};

// E5M2 is the top byte of an f16.
template <>
struct Dec<WFormat::F8_E5M2> {
  const uint8_t* p;
  Dec(const WeightMatrix& W, int64_t r) : p(static_cast<const uint8_t*>(W.data) + r * W.cols) {}
  __m512 load(int64_t k, __mmask16 m) const {
    const __m256i h = _mm256_slli_epi16(_mm256_cvtepu8_epi16(_mm_maskz_loadu_epi8(m, p + k)), 8);
    return _mm512_cvtph_ps(h);
  }
};

// E4M3 (bias 7) -> f16 (bias 15) bit for bit: sign to bit 15, exponent+mantissa to bits 13..7;
// subnormals land on f16 subnormals. The value is then 2^-8 of the e4m3 one, so 256 is folded
// into the block scale. (The e4m3 NaN pattern decodes to 480, not NaN; checkpoints hold none.)
template <>
struct Dec<WFormat::F8_E4M3> {
  const uint8_t* p;
  const float* scales;  // this row's block-row of scale_inv
  int64_t block_cols;
  Dec(const WeightMatrix& W, int64_t r)
      : p(static_cast<const uint8_t*>(W.data) + r * W.cols),
        scales(W.scale_inv + (r / W.block_rows) * ((W.cols + W.block_cols - 1) / W.block_cols)),
        block_cols(W.block_cols) {}
  __m512 load(int64_t k, __mmask16 m) const {
    __m256i h = _mm256_cvtepu8_epi16(_mm_maskz_loadu_epi8(m, p + k));
    h = _mm256_and_si256(_mm256_srai_epi16(_mm256_slli_epi16(h, 8), 1), _mm256_set1_epi16(int16_t(0xBF80)));
    return _mm512_mul_ps(_mm512_cvtph_ps(h), _mm512_set1_ps(scales[k / block_cols] * 256.0f));
  }
};

// Software prefetch distance for streamed weights (rows are contiguous, so this runs into the next
// rows). The hardware prefetcher alone keeps too few lines in flight when compute is interleaved
// with the loads, so the Q8_0 GEMV streamed well below a pure read loop without it; distances of a
// few KiB all do alike (docs/PERFORMANCE.md).
constexpr int64_t kPrefetchBytes = 3072;

// ---- GEMV, float formats (F32, F16, F8_E5M2; BF16 and F8_E4M3: gemv_float.h) -----------------
// Tokens t0..t0+NT of X against rows r0..r1; two accumulator sets hide FMA latency at NT = 1.
template <WFormat F, int NT>
void gemv_float(const WeightMatrix& W, const float* X, float* Y, int64_t t0, int64_t r0, int64_t r1) {
  const int64_t K = W.cols;
  const float* x[NT];
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) x[t] = X + (t0 + t) * K;
  for (int64_t r = r0; r < r1; ++r) {
    const Dec<F> d(W, r);
    __m512 a0[NT], a1[NT];
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) a0[t] = a1[t] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      // Prefetch each 64-byte line of the stream (see kPrefetchBytes).
      const char* line = reinterpret_cast<const char*>(d.p + k) + kPrefetchBytes;
      #pragma GCC unroll 2
      for (size_t o = 0; o < 32 * sizeof(*d.p); o += 64) _mm_prefetch(line + o, _MM_HINT_T0);
      const __m512 w0 = d.load(k, 0xffff), w1 = d.load(k + 16, 0xffff);
      #pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        a0[t] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x[t] + k), a0[t]);
        a1[t] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x[t] + k + 16), a1[t]);
      }
    }
    for (; k < K; k += 16) {
      const __mmask16 m = tail_mask16(K - k);
      const __m512 w = d.load(k, m);
      #pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) a0[t] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m, x[t] + k), a0[t]);
    }
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) Y[(t0 + t) * W.rows + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[t], a1[t]));
  }
}

// ---- GEMV, Q8_0 / Q4_0 with int8 activations ----------------------------------------------------
// Activations: ops/gemv_act_layout.h. Weights are block-interleaved (ops/quant/block_groups.h), so in
// a group of 16 blocks every 64-byte load holds the same dword of all 16 blocks: vpdpbusd (the
// stored bytes are the unsigned operand as they are) leaves block j's dot product in lane j, and
// the group ends with one convert and one FMA by dw * dx for all 16 blocks. Per 64 weight bytes
// that is a load, a vpdpbusd (activations from memory) and a prefetch for Q8_0; Q4_0 adds two ands
// (the high nibbles are used in place, as 16 * nibble, and the sum shifted right by 4 at the end).

bool is_q(WFormat f) { return f == WFormat::Q8_0 || f == WFormat::Q4_0; }

// Prefill runs on the int8 GEMM for the Q formats, and for F8_E4M3 whose 32-column blocks each lie in
// one scale block (gemm_int8_avx512.cpp converts its row panels to Q8_0 on the fly); other F8_E4M3
// block shapes take the f32 panels.
bool int8_gemm(const WeightMatrix& W) {
  return is_q(W.format) || (W.format == WFormat::F8_E4M3 && W.block_cols % 32 == 0);
}

// F8_E4M3 decode takes the table-lookup GEMV where the CPU has VBMI and whole 64-column chunks fit
// in a scale block, else the f16 route.
bool fp8_vbmi_gemv(const WeightMatrix& W) {
  static const bool vbmi = cpu::kernel_isa_supported(cpu::KernelIsa::avx512vbmi);
  return W.format == WFormat::F8_E4M3 && W.block_cols % 64 == 0 && vbmi;
}

size_t prep_bytes(const WeightMatrix& W, int64_t n) {
  if (W.format == WFormat::F8_E4M3 && W.block_cols % 16 != 0)
    fail("matmul (avx512): F8_E4M3 block_cols {} must be a multiple of 16", W.block_cols);
  if (W.format == WFormat::BF16 && n <= kGemvMaxTokens) return size_t(n * bf16_act_floats(W.cols)) * sizeof(float);
  if (fp8_vbmi_gemv(W) && n <= kGemvMaxTokens) return size_t(n * fp8_act_floats(W.cols)) * sizeof(float);
  if (n > kGemvMaxTokens) return int8_gemm(W) ? gemm_i8_prep_bytes(W, n) : 0;
  if (!is_q(W.format)) return 0;
  return size_t(QActLayout(W).token_bytes * n);
}

void prepare(const WeightMatrix& W, const float* X, int64_t n, void* prep) {
  if (W.format == WFormat::BF16 && n <= kGemvMaxTokens) return prepare_bf16_act(W, X, n, static_cast<float*>(prep));
  if (fp8_vbmi_gemv(W) && n <= kGemvMaxTokens) return prepare_fp8_act(W, X, n, static_cast<float*>(prep));
  if (n > kGemvMaxTokens) {
    if (int8_gemm(W)) gemm_i8_prepare(W, X, n, prep);
    return;
  }
  if (!is_q(W.format)) return;
  const QActLayout L(W);
  const int64_t K = W.cols;
  const bool q4 = L.q4;
  std::memset(prep, 0, size_t(L.token_bytes * n));
  for (int64_t t = 0; t < n; ++t) {
    const float* x = X + t * K;
    int8_t* q = L.q(prep, t);
    float* dx = L.dx(prep, t);
    int32_t* c = L.c(prep, t);
    // Block b quantized to v (natural order), its scale and sum.
    auto quantize_block = [&](int64_t b, int8_t* v, int32_t& sum) {
      const int64_t k = b * 32;
      const __m512 v0 = _mm512_maskz_loadu_ps(tail_mask16(K - k), x + k);
      const __m512 v1 = _mm512_maskz_loadu_ps(K - k > 16 ? tail_mask16(K - k - 16) : 0, x + k + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
      const float inv = amax > 0 ? 127.0f / amax : 0.0f;
      const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(inv)));  // nearest-even
      const __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(inv)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(v), _mm512_cvtepi32_epi8(i0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(v + 16), _mm512_cvtepi32_epi8(i1));
      sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
      return amax / 127.0f;
    };
    // Full groups: 16 blocks quantized in natural order, then each 64-byte activation vector of the
    // group is one gather of a dword from each block (QActLayout::place's layout, 16 lanes at once).
    const __m512i lane8 = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32(8));
    for (int64_t b0 = 0; b0 < L.full; b0 += 16) {
      alignas(64) int8_t v[16 * 32];
      alignas(64) int32_t sums[16];
      for (int64_t j = 0; j < 16; ++j) dx[b0 + j] = quantize_block(b0 + j, v + 32 * j, sums[j]);
      const __m512i sum = _mm512_load_si512(sums);
      _mm512_storeu_si512(c + b0, _mm512_mullo_epi32(sum, _mm512_set1_epi32(q4 ? -8 : -128)));
      int8_t* out = q + b0 * 32;
      for (int k = 0; k < 8; ++k) {  // Q8_0: dword k of the blocks; Q4_0: low dword k % 4 or high
        const __m512i d = _mm512_i32gather_epi32(_mm512_add_epi32(lane8, _mm512_set1_epi32(k)), v, 4);
        _mm512_storeu_si512(out + (q4 ? (k % 4) * 128 + (k / 4) * 64 : k * 64), d);
      }
    }
    for (int64_t b = L.full; b < L.nb; ++b) {
      alignas(16) int8_t v[32];
      int32_t sum;
      const float d = quantize_block(b, v, sum);
      L.place(q, dx, c, b, v, d, sum);
    }
  }
}

// Lane j of s gets the sum of the lanes l = j (mod G) for j < G (a group of G < 16 blocks: its loads
// hold block l % G in lane l); lanes >= G are left with partial sums, which the caller masks.
inline __m512i fold_lanes(__m512i s, int64_t G) {
  for (int h = 8; h >= G; h /= 2) {
    const __m512i idx = _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                         _mm512_set1_epi32(h));
    s = _mm512_add_epi32(s, _mm512_permutexvar_epi32(idx, s));  // lane l += lane (l + h) mod 16
  }
  return s;
}

// acc += one group of G blocks starting at block `first`: s[t] holds the group's integer sums (for
// G < 16 still spread over the lanes l = j mod G, so they are folded first); adds the correction c
// for the weights' unsigned storage, then the scales dw * dx of the G blocks.
// kSumsHoldC: a full group's sums started from c (one add less per group; a tail group's lanes
// must be folded before c can be added).
template <int NT, bool kSumsHoldC = false>
inline void add_group(const QTokens<NT>& X, const uint16_t* ws, int64_t first, int64_t G, const __m512i s[NT],
                      __m512 acc[NT]) {
  const __mmask16 m = tail_mask16(G);
  const __m512 dw = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, ws + first));
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    const __m512i folded = G < 16 ? fold_lanes(s[t], G) : s[t];
    const __m512i v = kSumsHoldC ? folded : _mm512_add_epi32(folded, _mm512_maskz_loadu_epi32(m, X.c[t] + first));
    const __m512 sc = _mm512_mul_ps(dw, _mm512_maskz_loadu_ps(m, X.dx[t] + first));
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), sc, acc[t]);
  }
}

// acc += one group of G blocks (16, or a row's last 8, 4, 2, 1) starting at block `first`, its
// activations at `xo` in each token's q. G is a compile-time constant, so loads, masks and the lane
// fold are straight-line code: with a run-time tail loop, rows of V2-Lite's expert width (1408 =
// 44 blocks = 32 + 8 + 4: a quarter of a down projection's blocks in tails) ran twice as slow as
// full groups' (cache-hot). A full group's sums start from the correction c and prefetch ahead.
template <int NT, bool kQ4, int G>
inline void add_block_group(const QTokens<NT>& X, const uint16_t* ws, const uint8_t* wq, int64_t first, int64_t xo,
                            __m512 acc[NT]) {
  constexpr bool kFull = G == 16;
  constexpr int kBytes = G * (kQ4 ? 16 : 32);  // weight bytes of the group
  constexpr __mmask64 kMask = kBytes >= 64 ? ~0ull : (1ull << kBytes) - 1;
  const uint8_t* wp = wq + first * (kQ4 ? 16 : 32);
  // Two chains: Q8_0 even / odd loads; Q4_0 low nibbles / high nibbles (as 16 * nibble).
  __m512i s[NT], s2[NT];
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    s[t] = kFull ? _mm512_loadu_si512(X.c[t] + first) : _mm512_setzero_si512();
    s2[t] = _mm512_setzero_si512();
  }
  #pragma GCC unroll 8
  for (int i = 0; i * 64 < kBytes; ++i) {
    if constexpr (kFull) _mm_prefetch(reinterpret_cast<const char*>(wp + 64 * i) + kPrefetchBytes, _MM_HINT_T0);
    const __m512i v = kFull ? _mm512_loadu_si512(wp + 64 * i) : _mm512_maskz_loadu_epi8(kMask, wp + 64 * i);
    if constexpr (kQ4) {
      const __m512i low4 = _mm512_set1_epi8(0x0f);
      const __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_andnot_si512(low4, v);
      #pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        const int8_t* xp = X.q[t] + xo + 128 * i;
        s[t] = _mm512_dpbusd_epi32(s[t], lo, _mm512_load_si512(xp));
        s2[t] = _mm512_dpbusd_epi32(s2[t], hi, _mm512_load_si512(xp + 64));
      }
    } else {
      #pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        const __m512i x = _mm512_load_si512(X.q[t] + xo + 64 * i);
        if (i & 1) s2[t] = _mm512_dpbusd_epi32(s2[t], v, x);
        else s[t] = _mm512_dpbusd_epi32(s[t], v, x);
      }
    }
  }
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) s[t] = _mm512_add_epi32(s[t], kQ4 ? _mm512_srai_epi32(s2[t], 4) : s2[t]);
  add_group<NT, kFull>(X, ws, first, G, s, acc);
}

// Row results of a GEMV, reduced 16 rows at a time: each row leaves a vector of partial sums, and
// one transpose-and-add tree turns 16 of them into 16 results (45 shuffles and adds, where 16
// separate horizontal sums take ~128: per 1152-byte Q4_0 row that is ~5 of ~100 vector ops).
template <int NT>
class RowSums {
 public:
  RowSums(float* Y, int64_t stride, int64_t t0, int64_t r0) : Y_(Y), stride_(stride), t0_(t0), base_(r0) {}
  void add(const __m512 acc[NT]) {
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) v_[t][k_] = acc[t];
    if (++k_ == 16) flush();
  }
  void flush() {
    if (k_ == 0) return;
    const __mmask16 m = tail_mask16(k_);
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(Y_ + (t0_ + t) * stride_ + base_, m, sum16(v_[t]));
    base_ += k_;
    k_ = 0;
  }

 private:
  // Lane i = the sum of v[i]'s lanes (entries past the live count are stale and land in lanes the
  // caller masks off).
  static __m512 sum16(const __m512 v[16]) {
    __m512 a[8], b[4];
    for (int i = 0; i < 8; ++i)  // per 128-bit lane: [r2i(0+2), r2i+1(0+2), r2i(1+3), r2i+1(1+3)]
      a[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; ++i)  // per 128-bit lane: rows 4i .. 4i+3, each summed over that lane
      b[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a[2 * i]), _mm512_castps_pd(a[2 * i + 1]))),
                           _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a[2 * i]), _mm512_castps_pd(a[2 * i + 1]))));
    // Add the 128-bit lanes pairwise, twice: lane L of the result holds rows 4L .. 4L+3.
    const __m512 c0 = _mm512_add_ps(_mm512_shuffle_f32x4(b[0], b[1], 0x88), _mm512_shuffle_f32x4(b[0], b[1], 0xDD));
    const __m512 c1 = _mm512_add_ps(_mm512_shuffle_f32x4(b[2], b[3], 0x88), _mm512_shuffle_f32x4(b[2], b[3], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(c0, c1, 0x88), _mm512_shuffle_f32x4(c0, c1, 0xDD));
  }

  float* Y_;
  int64_t stride_, t0_, base_;
  int k_ = 0;
  __m512 v_[NT][16] = {};
};

template <int NT, bool kQ4>
void gemv_q(const WeightMatrix& W, const void* prep, float* Y, int64_t t0, int64_t r0, int64_t r1) {
  const QActLayout L(W);
  const QTokens<NT> X(L, prep, t0);
  const int64_t nb = L.nb, row_bytes = kQ4 ? quant::q4_0_row_bytes(W.cols) : quant::q8_0_row_bytes(W.cols);
  RowSums<NT> out(Y, W.rows, t0, r0);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(W.data) + r * row_bytes;
    const uint16_t* ws = reinterpret_cast<const uint16_t*>(row);
    const uint8_t* wq = row + 2 * nb;
    __m512 acc[NT];
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b0 = 0; b0 < L.full; b0 += 16) add_block_group<NT, kQ4, 16>(X, ws, wq, b0, b0 * 32, acc);
    for (int gi = 0; gi < L.n_tail; ++gi) {
      const QActLayout::Group& g = L.tail[gi];
      with_tail_size(g.blocks, [&](auto G) { add_block_group<NT, kQ4, G()>(X, ws, wq, g.first, g.offset, acc); });
    }
    out.add(acc);
  }
  out.flush();
}

// ---- GEMM -------------------------------------------------------------------------------------
constexpr int64_t KC = 256;  // panel depth: 64 rows x 256 x 4 B = 64 KiB, X chunk n x 1 KiB in L2
constexpr int64_t MR = 64;   // panel height = 4 zmm of rows
constexpr int NR = 6;        // tokens per micro-kernel call

// In-register transpose of a 16x16 f32 tile: r[i] lane j -> r[j] lane i.
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4q + c], 128-bit lane L: column 4L + c of rows 4q..4q+3.
  for (int q = 0; q < 4; ++q) {
    u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
    u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
    u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
    u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 x0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
    const __m512 x1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
    const __m512 y0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
    const __m512 y1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
    r[c] = _mm512_shuffle_f32x4(x0, y0, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
    r[4 + c] = _mm512_shuffle_f32x4(x1, y1, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
  }
}

// panel[k * MR + i] = W[rb + i, k0 + k] for k < round_up(kc, 16); rows at or past r_end are zero.
template <WFormat F>
void pack_panel(const WeightMatrix& W, int64_t rb, int64_t r_end, int64_t k0, int64_t kc, float* panel) {
  for (int64_t rg = 0; rg < MR; rg += 16) {
    const int64_t valid = std::clamp<int64_t>(r_end - (rb + rg), 0, 16);
    alignas(Dec<F>) unsigned char store[16 * sizeof(Dec<F>)];
    Dec<F>* dec = reinterpret_cast<Dec<F>*>(store);
    for (int64_t i = 0; i < valid; ++i) new (&dec[i]) Dec<F>(W, rb + rg + i);
    for (int64_t kk = 0; kk < kc; kk += 16) {
      const __mmask16 m = tail_mask16(W.cols - (k0 + kk));
      __m512 z[16];
      for (int64_t i = 0; i < 16; ++i) z[i] = i < valid ? dec[i].load(k0 + kk, m) : _mm512_setzero_ps();
      transpose16(z);
      for (int j = 0; j < 16; ++j) _mm512_store_ps(panel + (kk + j) * MR + rg, z[j]);
    }
  }
}

// Y[t, 0..64) (+)= sum_k X[t, k] * panel[k, 0..64) for t < NT; m[j] masks rows of zmm j.
template <int NT>
void micro(const float* panel, int64_t kc, const float* X, int64_t ldx, float* Y, int64_t ldy,
           const __mmask16 m[4], bool accumulate) {
  __m512 c[NT][4];
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t)
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) c[t][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const float* pk = panel + k * MR;
    const __m512 w0 = _mm512_load_ps(pk), w1 = _mm512_load_ps(pk + 16);
    const __m512 w2 = _mm512_load_ps(pk + 32), w3 = _mm512_load_ps(pk + 48);
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      const __m512 xb = _mm512_set1_ps(X[t * ldx + k]);
      c[t][0] = _mm512_fmadd_ps(w0, xb, c[t][0]);
      c[t][1] = _mm512_fmadd_ps(w1, xb, c[t][1]);
      c[t][2] = _mm512_fmadd_ps(w2, xb, c[t][2]);
      c[t][3] = _mm512_fmadd_ps(w3, xb, c[t][3]);
    }
  }
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t)
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      float* y = Y + t * ldy + 16 * j;
      __m512 v = c[t][j];
      if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m[j], y));
      _mm512_mask_storeu_ps(y, m[j], v);
    }
}

template <WFormat F>
void gemm_rows(const WeightMatrix& W, const float* X, int64_t n, float* Y, int64_t r0, int64_t r1) {
  alignas(64) thread_local float panel[KC * MR];
  const int64_t K = W.cols;
  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kc = std::min(KC, K - k0);
    for (int64_t rb = r0; rb < r1; rb += MR) {
      pack_panel<F>(W, rb, r1, k0, kc, panel);
      __mmask16 m[4];
      #pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) m[j] = tail_mask16(std::max<int64_t>(0, r1 - rb - 16 * j));
      for (int64_t t0 = 0; t0 < n; t0 += NR) {
        const float* x = X + t0 * K + k0;
        float* y = Y + t0 * W.rows + rb;
        switch (std::min<int64_t>(NR, n - t0)) {
          case 1: micro<1>(panel, kc, x, K, y, W.rows, m, k0 > 0); break;
          case 2: micro<2>(panel, kc, x, K, y, W.rows, m, k0 > 0); break;
          case 3: micro<3>(panel, kc, x, K, y, W.rows, m, k0 > 0); break;
          case 4: micro<4>(panel, kc, x, K, y, W.rows, m, k0 > 0); break;
          case 5: micro<5>(panel, kc, x, K, y, W.rows, m, k0 > 0); break;
          default: micro<6>(panel, kc, x, K, y, W.rows, m, k0 > 0); break;
        }
      }
    }
  }
}

// ---- Entry ------------------------------------------------------------------------------------
template <WFormat F>
void rows_fmt(const WeightMatrix& W, const float* X, const void* prep, int64_t n, float* Y, int64_t r0, int64_t r1) {
  if (n > kGemvMaxTokens) {
    if constexpr (F == WFormat::Q8_0 || F == WFormat::Q4_0) return gemm_i8_rows(W, prep, n, Y, r0, r1);
    else if (int8_gemm(W)) return gemm_i8_rows(W, prep, n, Y, r0, r1);
    else return gemm_rows<F>(W, X, n, Y, r0, r1);
  }
  if constexpr (F == WFormat::BF16 || F == WFormat::F8_E4M3) {
    if (fp8_vbmi_gemv(W)) return gemv_fp8_vbmi_rows(W, prep, n, Y, r0, r1);
    return gemv_float_rows(W, X, prep, n, Y, r0, r1);
  }
  for (int64_t t0 = 0; t0 < n; t0 += 4) {
    const int64_t nt = std::min<int64_t>(4, n - t0);
    if constexpr (F == WFormat::Q8_0 || F == WFormat::Q4_0) {
      constexpr bool kQ4 = F == WFormat::Q4_0;
      switch (nt) {
        case 1: gemv_q<1, kQ4>(W, prep, Y, t0, r0, r1); break;
        case 2: gemv_q<2, kQ4>(W, prep, Y, t0, r0, r1); break;
        case 3: gemv_q<3, kQ4>(W, prep, Y, t0, r0, r1); break;
        default: gemv_q<4, kQ4>(W, prep, Y, t0, r0, r1); break;
      }
    } else {
      switch (nt) {
        case 1: gemv_float<F, 1>(W, X, Y, t0, r0, r1); break;
        case 2: gemv_float<F, 2>(W, X, Y, t0, r0, r1); break;
        case 3: gemv_float<F, 3>(W, X, Y, t0, r0, r1); break;
        default: gemv_float<F, 4>(W, X, Y, t0, r0, r1); break;
      }
    }
  }
}

void rows(const WeightMatrix& W, const float* X, const void* prep, int64_t n, float* Y, int64_t r0, int64_t r1) {
  switch (W.format) {
    case WFormat::F32: return rows_fmt<WFormat::F32>(W, X, prep, n, Y, r0, r1);
    case WFormat::F16: return rows_fmt<WFormat::F16>(W, X, prep, n, Y, r0, r1);
    case WFormat::BF16: return rows_fmt<WFormat::BF16>(W, X, prep, n, Y, r0, r1);
    case WFormat::F8_E4M3: return rows_fmt<WFormat::F8_E4M3>(W, X, prep, n, Y, r0, r1);
    case WFormat::F8_E5M2: return rows_fmt<WFormat::F8_E5M2>(W, X, prep, n, Y, r0, r1);
    case WFormat::Q8_0: return rows_fmt<WFormat::Q8_0>(W, X, prep, n, Y, r0, r1);
    case WFormat::Q4_0: return rows_fmt<WFormat::Q4_0>(W, X, prep, n, Y, r0, r1);
  }
}

}  // namespace

const MatmulKernels& avx512_kernels() {
  static const MatmulKernels k{prep_bytes, prepare, rows};
  return k;
}

}  // namespace fathom::ops::detail
