// AVX2 + FMA + F16C kernels for ops::matmul (the baseline flags of the tree, x86-64-v3).
// Same structure as matmul_avx512.cpp at 8 lanes:
//   GEMV: float formats decoded exactly to f32 + FMA; Q8_0/Q4_0 dot int8 activations with
//     maddubs over block-interleaved weights (Q8_0 through the sign trick |w| * sign(x, w), which is
//     why Q8_0 never stores -128).
//   GEMM: 16-row x KC panel decoded and transposed to [k][16], 6 tokens x 16 rows of accumulators;
//     Q4_0 instead runs the int8 GEMM of gemm_q4_avx2.cpp.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "ops/act_quant.h"
#include "ops/gemm_int8.h"
#include "ops/gemv_act_layout.h"
#include "ops/matmul.h"
#include "ops/matmul_kernels.h"
#include "ops/quant/block_groups.h"
#include "ops/quant/q4_0.h"
#include "ops/quant/q8_0.h"

namespace fathom::ops::detail {
namespace {

// ---- Decoders: 8 consecutive weights of one row as exact f32 ------------------------------------
// load(k): weights k..k+7, k a multiple of 8 and k + 8 <= cols (Q formats: <= padded cols).
// load_tail(k, valid): the same for the last, partial chunk (zeros past cols).
template <WFormat F>
struct Dec;

template <typename Self, typename Elem>
struct TailFromCopy {
  // Copies the valid source elements to a zeroed buffer and decodes from there.
  __m256 load_tail(int64_t k, int64_t valid) const {
    const Self& self = static_cast<const Self&>(*this);
    Elem buf[8] = {};
    std::memcpy(buf, self.p + k, size_t(valid) * sizeof(Elem));
    Self tmp = self;
    tmp.p = buf - k;  // so tmp.load(k) reads buf
    return tmp.load(k);
  }
};

template <>
struct Dec<WFormat::F32> : TailFromCopy<Dec<WFormat::F32>, float> {
  const float* p;
  Dec(const WeightMatrix& W, int64_t r) : p(static_cast<const float*>(W.data) + r * W.cols) {}
  __m256 load(int64_t k) const { return _mm256_loadu_ps(p + k); }
};

template <>
struct Dec<WFormat::F16> : TailFromCopy<Dec<WFormat::F16>, uint16_t> {
  const uint16_t* p;
  Dec(const WeightMatrix& W, int64_t r) : p(static_cast<const uint16_t*>(W.data) + r * W.cols) {}
  __m256 load(int64_t k) const { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k))); }
};

template <>
struct Dec<WFormat::BF16> : TailFromCopy<Dec<WFormat::BF16>, uint16_t> {
  const uint16_t* p;
  Dec(const WeightMatrix& W, int64_t r) : p(static_cast<const uint16_t*>(W.data) + r * W.cols) {}
  __m256 load(int64_t k) const {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
  }
};

template <>
struct Dec<WFormat::F8_E5M2> : TailFromCopy<Dec<WFormat::F8_E5M2>, uint8_t> {
  const uint8_t* p;
  Dec(const WeightMatrix& W, int64_t r) : p(static_cast<const uint8_t*>(W.data) + r * W.cols) {}
  __m256 load(int64_t k) const {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + k));
    return _mm256_cvtph_ps(_mm_slli_epi16(_mm_cvtepu8_epi16(b), 8));
  }
};

// E4M3 -> f16 bits exactly (see gemv_float_avx512.cpp: the sign-extended byte shifted left by 7,
// bit 14 cleared); 2^8 folded into the block scale.
template <>
struct Dec<WFormat::F8_E4M3> : TailFromCopy<Dec<WFormat::F8_E4M3>, uint8_t> {
  const uint8_t* p;
  const float* scales;
  int64_t block_cols;
  int block_shift;  // log2(block_cols) when a power of two (128 in every release): no division per load
  Dec(const WeightMatrix& W, int64_t r)
      : p(static_cast<const uint8_t*>(W.data) + r * W.cols),
        scales(W.scale_inv + (r / W.block_rows) * ((W.cols + W.block_cols - 1) / W.block_cols)),
        block_cols(W.block_cols),
        block_shift((W.block_cols & (W.block_cols - 1)) == 0 ? __builtin_ctzll(uint64_t(W.block_cols)) : -1) {}
  __m256 load(int64_t k) const {
    __m128i h = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + k)));
    h = _mm_and_si128(_mm_slli_epi16(h, 7), _mm_set1_epi16(int16_t(0xBF80)));
    const int64_t b = block_shift >= 0 ? k >> block_shift : k / block_cols;
    return _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(scales[b] * 256.0f));
  }
};

// Q8_0 / Q4_0 (block-interleaved, ops/quant/block_groups.h): weights k..k+7 are two dwords of one
// block, found through the block's group.
template <>
struct Dec<WFormat::Q8_0> {
  const uint16_t* s;
  const uint8_t* q;
  int64_t nb;
  Dec(const WeightMatrix& W, int64_t r) : nb(quant::q8_0_blocks(W.cols)) {
    s = reinterpret_cast<const uint16_t*>(static_cast<const uint8_t*>(W.data) + r * quant::q8_0_row_bytes(W.cols));
    q = reinterpret_cast<const uint8_t*>(s + nb);
  }
  __m256 load(int64_t k) const {
    const int64_t b = k >> 5, kd = (k & 31) / 4;
    uint32_t d0, d1;
    std::memcpy(&d0, q + quant::block_dword_offset(nb, b, kd, 32), 4);
    std::memcpy(&d1, q + quant::block_dword_offset(nb, b, kd + 1, 32), 4);
    const __m128i u = _mm_xor_si128(_mm_cvtsi64_si128(int64_t(uint64_t(d0) | uint64_t(d1) << 32)), _mm_set1_epi8(char(0x80)));
    const __m256i i = _mm256_cvtepi8_epi32(u);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(_cvtsh_ss(s[b])));
  }
  __m256 load_tail(int64_t k, int64_t) const { return load(k); }  // rows are padded blocks
};

template <>
struct Dec<WFormat::Q4_0> {
  const uint16_t* s;
  const uint8_t* q;
  int64_t nb;
  Dec(const WeightMatrix& W, int64_t r) : nb(quant::q4_0_blocks(W.cols)) {
    s = reinterpret_cast<const uint16_t*>(static_cast<const uint8_t*>(W.data) + r * quant::q4_0_row_bytes(W.cols));
    q = reinterpret_cast<const uint8_t*>(s + nb);
  }
  __m256 load(int64_t k) const {
    const int64_t b = k >> 5, pos = k & 31;  // 0, 8, 16 or 24 within the block
    const int64_t kd = (pos & 15) / 4;       // stored dword holding elements pos & 15 (and + 16)
    uint32_t d0, d1;
    std::memcpy(&d0, q + quant::block_dword_offset(nb, b, kd, 16), 4);
    std::memcpy(&d1, q + quant::block_dword_offset(nb, b, kd + 1, 16), 4);
    __m128i v = _mm_cvtsi64_si128(int64_t(uint64_t(d0) | uint64_t(d1) << 32));
    if (pos >= 16) v = _mm_srli_epi16(v, 4);
    v = _mm_and_si128(v, _mm_set1_epi8(0x0f));
    const __m256i i = _mm256_sub_epi32(_mm256_cvtepu8_epi32(v), _mm256_set1_epi32(8));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(_cvtsh_ss(s[b])));
  }
  __m256 load_tail(int64_t k, int64_t) const { return load(k); }
};

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 load_x_tail(const float* x, int64_t valid) {
  float buf[8] = {};
  std::memcpy(buf, x, size_t(valid) * sizeof(float));
  return _mm256_loadu_ps(buf);
}

// ---- GEMV, float formats ----------------------------------------------------------------------
template <WFormat F, int NT>
void gemv_float(const WeightMatrix& W, const float* X, float* Y, int64_t t0, int64_t r0, int64_t r1) {
  const int64_t K = W.cols;
  const float* x[NT];
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) x[t] = X + (t0 + t) * K;
  for (int64_t r = r0; r < r1; ++r) {
    const Dec<F> d(W, r);
    __m256 a0[NT], a1[NT];
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) a0[t] = a1[t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      const __m256 w0 = d.load(k), w1 = d.load(k + 8);
      #pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        a0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t] + k), a0[t]);
        a1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[t] + k + 8), a1[t]);
      }
    }
    for (; k < K; k += 8) {
      const int64_t valid = std::min<int64_t>(8, K - k);
      const __m256 w = valid == 8 ? d.load(k) : d.load_tail(k, valid);
      #pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        const __m256 xv = valid == 8 ? _mm256_loadu_ps(x[t] + k) : load_x_tail(x[t] + k, valid);
        a0[t] = _mm256_fmadd_ps(w, xv, a0[t]);
      }
    }
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) Y[(t0 + t) * W.rows + r] = hsum(_mm256_add_ps(a0[t], a1[t]));
  }
}

// ---- GEMV, Q8_0 / Q4_0 with int8 activations ----------------------------------------------------
// Activations: ops/gemv_act_layout.h (shared with AVX-512). Weights are block-interleaved
// (ops/quant/block_groups.h): in a group of G blocks, lane l of 32-byte load i holds a dword of block
// (8i + l) % G, so a group of 16 leaves blocks 0..7 in one accumulator (even loads) and 8..15 in
// another (odd loads), and its scales are applied by one convert and one FMA per 8 blocks.
//   Q8_0: stored q + 128, flipped back to q; sum(w * x) = maddubs(|w|, sign(x, w)) then madd (pairs
//         fit int16: 2 * 127 * 127), which is the signed product: no offset correction.
//   Q4_0: maddubs(nibble, x) for the low and the high nibbles, summed in int16 (each at most
//         2 * 15 * 127 per pair), widened by one madd; the +8 of the nibbles comes back through c.

// Software prefetch distance for streamed weights, as in the AVX-512 kernels (without it a core
// streams well below its share of the bandwidth when compute is interleaved with the loads).
constexpr int64_t kPrefetchBytes = 3072;

bool is_q(WFormat f) { return f == WFormat::Q8_0 || f == WFormat::Q4_0; }

size_t prep_bytes(const WeightMatrix& W, int64_t n) {
  if (W.format == WFormat::F8_E4M3 && W.block_cols % 8 != 0)
    fail("matmul (avx2): F8_E4M3 block_cols {} must be a multiple of 8", W.block_cols);
  if (W.format == WFormat::Q4_0 && n > kGemvMaxTokens) return gemm_q4_avx2_prep_bytes(W, n);
  if (!is_q(W.format) || n > kGemvMaxTokens) return 0;
  return size_t(QActLayout(W).token_bytes * n);
}

void prepare(const WeightMatrix& W, const float* X, int64_t n, void* prep) {
  if (W.format == WFormat::Q4_0 && n > kGemvMaxTokens) return gemm_q4_avx2_prepare(W, X, n, prep);
  if (!is_q(W.format) || n > kGemvMaxTokens) return;
  const QActLayout L(W);
  const int64_t K = W.cols;
  std::memset(prep, 0, size_t(L.token_bytes * n));
  for (int64_t t = 0; t < n; ++t) {
    const float* x = X + t * K;
    for (int64_t b = 0; b < L.nb; ++b) {
      int32_t tmp[32], sum;
      const float d = quantize_act_block(x + b * 32, K - b * 32, tmp, sum);
      int8_t v[32];
      for (int j = 0; j < 32; ++j) v[j] = int8_t(tmp[j]);
      L.place(L.q(prep, t), L.dx(prep, t), L.c(prep, t), b, v, d, sum);
    }
  }
}

// Integer dot products of one group of G blocks (weights wp, activations at offset xo of each token's
// q): s[0][t] gets the lanes of even loads, s[1][t] of odd ones (a group of 16 keeps them apart; a
// smaller group adds both into s[0], lane l then holding block l % G).
// G is a compile-time constant (16, or a tail's 8, 4, 2, 1) so every group's loop is straight-line
// code: with a run-time G, rows of V2-Lite's expert width (1408 = 32 + 8 + 4 blocks) ran markedly
// slower than full-group widths (docs/PERFORMANCE.md).
template <int NT, bool Q4, int G>
inline void group_dots(const uint8_t* wp, const QTokens<NT>& X, int64_t xo, __m256i s[2][NT]) {
  const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0f), flip = _mm256_set1_epi8(char(0x80));
  constexpr int64_t bytes = G * (Q4 ? 16 : 32);
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) s[0][t] = s[1][t] = _mm256_setzero_si256();
  #pragma GCC unroll 16
  for (int64_t i = 0; i * 32 < bytes; ++i) {
    if (i % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(wp + 32 * i) + kPrefetchBytes, _MM_HINT_T0);
    __m256i v;
    if (bytes - 32 * i >= 32) v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 32 * i));
    else v = _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp + 32 * i)));  // 16 bytes
    const int half = G == 16 ? int(i % 2) : 0;
    if constexpr (Q4) {
      const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
      #pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        const int8_t* x = X.q[t] + xo + (i / 2) * 128 + (i % 2) * 32;
        const __m256i p16 =
            _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))),
                             _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 64))));
        s[half][t] = _mm256_add_epi32(s[half][t], _mm256_madd_epi16(p16, ones));
      }
    } else {
      const __m256i w = _mm256_xor_si256(v, flip);  // q
      const __m256i aw = _mm256_sign_epi8(w, w);
      #pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(X.q[t] + xo + 32 * i));
        const __m256i d = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, w)), ones);
        s[half][t] = _mm256_add_epi32(s[half][t], d);
      }
    }
  }
}

// acc += the 8 blocks first..first+7 (lanes >= live are ignored): int sums s (lane j = block
// first + j) plus Q4_0's correction c, times dw * dx.
template <int NT, bool Q4>
inline void add_blocks(const uint16_t* ws, int64_t first, int live, const QTokens<NT>& X, const __m256i s[NT],
                       __m256 acc[NT]) {
  __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ws + first)));
  if (live < 8) {  // the f16 read past the row's scales runs into quantized bytes: zero those lanes
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    dw = _mm256_and_ps(dw, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(live), lane)));
  }
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    __m256i v = s[t];
    if constexpr (Q4) v = _mm256_add_epi32(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(X.c[t] + first)));
    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_mul_ps(dw, _mm256_loadu_ps(X.dx[t] + first)), acc[t]);
  }
}

// acc += one tail group of G < 16 blocks: lane j < G gathers the lanes l = j (mod G).
template <int NT, bool Q4, int G>
inline void tail_group(const uint8_t* wp, const uint16_t* ws, const QActLayout::Group& g, const QTokens<NT>& X,
                       __m256 acc[NT]) {
  __m256i s[2][NT];
  group_dots<NT, Q4, G>(wp, X, g.offset, s);
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    __m256i v = s[0][t];
    if constexpr (G <= 4) v = _mm256_add_epi32(v, _mm256_permute2x128_si256(v, v, 0x01));
    if constexpr (G <= 2) v = _mm256_add_epi32(v, _mm256_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
    if constexpr (G == 1) v = _mm256_add_epi32(v, _mm256_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    s[0][t] = v;
  }
  add_blocks<NT, Q4>(ws, g.first, G, X, s[0], acc);
}

template <int NT, bool Q4>
void gemv_q(const WeightMatrix& W, const void* prep, float* Y, int64_t t0, int64_t r0, int64_t r1) {
  const QActLayout L(W);
  const QTokens<NT> X(L, prep, t0);
  const int64_t nb = L.nb, bpb = Q4 ? 16 : 32;
  const int64_t row_bytes = Q4 ? quant::q4_0_row_bytes(W.cols) : quant::q8_0_row_bytes(W.cols);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(W.data) + r * row_bytes;
    const uint16_t* ws = reinterpret_cast<const uint16_t*>(row);
    const uint8_t* wq = row + 2 * nb;
    __m256 acc[NT];
    __m256i s[2][NT];
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b0 = 0; b0 < L.full; b0 += 16) {
      group_dots<NT, Q4, 16>(wq + b0 * bpb, X, b0 * 32, s);
      add_blocks<NT, Q4>(ws, b0, 8, X, s[0], acc);
      add_blocks<NT, Q4>(ws, b0 + 8, 8, X, s[1], acc);
    }
    for (int gi = 0; gi < L.n_tail; ++gi) {
      const QActLayout::Group& g = L.tail[gi];
      with_tail_size(g.blocks, [&](auto G) { tail_group<NT, Q4, G()>(wq + g.first * bpb, ws, g, X, acc); });
    }
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) Y[(t0 + t) * W.rows + r] = hsum(acc[t]);
  }
}

// ---- GEMM -------------------------------------------------------------------------------------
constexpr int64_t KC = 256;
constexpr int64_t MR = 16;  // panel height = 2 ymm of rows
constexpr int NR = 6;

// panel[k * MR + i] = W[rb + i, k0 + k] for k < round_up(kc, 8); rows at or past r_end are zero.
template <WFormat F>
void pack_panel(const WeightMatrix& W, int64_t rb, int64_t r_end, int64_t k0, int64_t kc, float* panel) {
  const int64_t valid = std::clamp<int64_t>(r_end - rb, 0, MR);
  const int64_t kc8 = (kc + 7) / 8 * 8;
  for (int64_t i = 0; i < MR; ++i) {
    if (i >= valid) {
      for (int64_t k = 0; k < kc8; ++k) panel[k * MR + i] = 0;
      continue;
    }
    const Dec<F> d(W, rb + i);
    for (int64_t kk = 0; kk < kc8; kk += 8) {
      const int64_t left = W.cols - (k0 + kk);
      alignas(32) float v[8];
      _mm256_store_ps(v, left >= 8 ? d.load(k0 + kk) : d.load_tail(k0 + kk, left));
      for (int j = 0; j < 8; ++j) panel[(kk + j) * MR + i] = v[j];
    }
  }
}

template <int NT>
void micro(const float* panel, int64_t kc, const float* X, int64_t ldx, float* Y, int64_t ldy,
           int64_t valid_rows, bool accumulate) {
  __m256 c[NT][2];
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) c[t][0] = c[t][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 w0 = _mm256_load_ps(panel + k * MR), w1 = _mm256_load_ps(panel + k * MR + 8);
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      const __m256 xb = _mm256_broadcast_ss(X + t * ldx + k);
      c[t][0] = _mm256_fmadd_ps(w0, xb, c[t][0]);
      c[t][1] = _mm256_fmadd_ps(w1, xb, c[t][1]);
    }
  }
  #pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    float* y = Y + t * ldy;
    if (valid_rows == MR) {
      #pragma GCC unroll 4
      for (int j = 0; j < 2; ++j) {
        __m256 v = c[t][j];
        if (accumulate) v = _mm256_add_ps(v, _mm256_loadu_ps(y + 8 * j));
        _mm256_storeu_ps(y + 8 * j, v);
      }
    } else {
      alignas(32) float v[MR];
      _mm256_store_ps(v, c[t][0]);
      _mm256_store_ps(v + 8, c[t][1]);
      for (int64_t i = 0; i < valid_rows; ++i) y[i] = accumulate ? y[i] + v[i] : v[i];
    }
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
      const int64_t valid = std::min(MR, r1 - rb);
      for (int64_t t0 = 0; t0 < n; t0 += NR) {
        const float* x = X + t0 * K + k0;
        float* y = Y + t0 * W.rows + rb;
        switch (std::min<int64_t>(NR, n - t0)) {
          case 1: micro<1>(panel, kc, x, K, y, W.rows, valid, k0 > 0); break;
          case 2: micro<2>(panel, kc, x, K, y, W.rows, valid, k0 > 0); break;
          case 3: micro<3>(panel, kc, x, K, y, W.rows, valid, k0 > 0); break;
          case 4: micro<4>(panel, kc, x, K, y, W.rows, valid, k0 > 0); break;
          case 5: micro<5>(panel, kc, x, K, y, W.rows, valid, k0 > 0); break;
          default: micro<6>(panel, kc, x, K, y, W.rows, valid, k0 > 0); break;
        }
      }
    }
  }
}

// ---- Entry ------------------------------------------------------------------------------------
template <WFormat F>
void rows_fmt(const WeightMatrix& W, const float* X, const void* prep, int64_t n, float* Y, int64_t r0, int64_t r1) {
  if (n > kGemvMaxTokens) {
    if constexpr (F == WFormat::Q4_0) return gemm_q4_avx2_rows(W, prep, n, Y, r0, r1);
    return gemm_rows<F>(W, X, n, Y, r0, r1);
  }
  for (int64_t t0 = 0; t0 < n; t0 += 4) {
    const int64_t nt = std::min<int64_t>(4, n - t0);
    if constexpr (F == WFormat::Q8_0) {
      switch (nt) {
        case 1: gemv_q<1, false>(W, prep, Y, t0, r0, r1); break;
        case 2: gemv_q<2, false>(W, prep, Y, t0, r0, r1); break;
        case 3: gemv_q<3, false>(W, prep, Y, t0, r0, r1); break;
        default: gemv_q<4, false>(W, prep, Y, t0, r0, r1); break;
      }
    } else if constexpr (F == WFormat::Q4_0) {
      switch (nt) {
        case 1: gemv_q<1, true>(W, prep, Y, t0, r0, r1); break;
        case 2: gemv_q<2, true>(W, prep, Y, t0, r0, r1); break;
        case 3: gemv_q<3, true>(W, prep, Y, t0, r0, r1); break;
        default: gemv_q<4, true>(W, prep, Y, t0, r0, r1); break;
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

const MatmulKernels& avx2_kernels() {
  static const MatmulKernels k{prep_bytes, prepare, rows};
  return k;
}

}  // namespace fathom::ops::detail
