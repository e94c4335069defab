// AVX2 prefill GEMM for Q4_0 weights with int8 activations (see ops/gemm_int8.h), for CPUs without
// AVX-512. AVX2 has no vpdpbusd; maddubs multiplies unsigned bytes by signed bytes and sums pairs
// into int16, which saturates for general int8 x int8 but never for Q4_0: a nibble is at most 15, so
// a pair is at most 2 * 15 * 127 = 3,810 and the 8 pairs of one 32-block still fit an int16
// (30,480). A block therefore costs one maddubs + one add per 4 columns, and one widening madd.
//
// Lanes are tokens: activations are quantized per token and 32-block (like the GEMV path) and
// transposed 8 tokens to a ymm ([group][block][4-column step][token][4 bytes]); each row's nibbles
// for 4 columns are broadcast as one dword. Per row and block:
//   s_t = Σ_k nib_k * q_t,k - 8 * Σ_k q_t,k   (exact in int32: the Q4_0 offset, cx = -8 Σ q)
//   Y_t += s_t * (dw * dx_t)
// Tiles of 4 rows x 8 tokens; a chunk of 16 blocks of the 4 rows is unpacked once (nibbles to
// bytes in column order, scales to f32) and serves every token group.
// (The whole build targets x86-64-v3, so this file needs no extra flags.)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/act_quant.h"
#include "ops/gemm_int8.h"
#include "ops/quant/q4_0.h"

namespace fathom::ops::detail {
namespace {

constexpr int64_t kTok = 8;     // tokens per group (ymm lanes)
constexpr int64_t kRows = 4;    // rows per tile
constexpr int64_t kChunk = 16;  // blocks unpacked at a time

struct Layout {
  int64_t nb, groups;
  explicit Layout(const WeightMatrix& W, int64_t n) : nb((W.cols + 31) / 32), groups((n + kTok - 1) / kTok) {}
  // Per group and block: 256 bytes of q, then (after all q) 8 dx floats and 8 cx ints.
  size_t q_bytes() const { return size_t(groups * nb * 256); }
  size_t bytes() const { return q_bytes() + size_t(groups * nb * kTok) * 8; }
  const int8_t* q(const void* p, int64_t g, int64_t b) const {
    return static_cast<const int8_t*>(p) + (g * nb + b) * 256;
  }
  const float* dx(const void* p, int64_t g, int64_t b) const {
    return reinterpret_cast<const float*>(static_cast<const uint8_t*>(p) + q_bytes()) + (g * nb + b) * kTok;
  }
  const int32_t* cx(const void* p, int64_t g, int64_t b) const {
    return reinterpret_cast<const int32_t*>(dx(p, 0, 0) + groups * nb * kTok) + (g * nb + b) * kTok;
  }
};

template <int R>
void tile(const WeightMatrix& W, const Layout& L, const void* prep, int64_t n, float* Y, int64_t r0,
          std::vector<float>& acc_mem) {
  const int64_t nb = L.nb, row_bytes = quant::q4_0_row_bytes(W.cols);
  acc_mem.assign(size_t(L.groups * R * kTok), 0.0f);
  alignas(32) uint8_t wbuf[R][kChunk][32];
  alignas(32) float dw[R][kChunk];
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t c0 = 0; c0 < nb; c0 += kChunk) {
    const int64_t nc = std::min(kChunk, nb - c0);
    for (int i = 0; i < R; ++i) {  // unpack: nibbles to bytes in column order, scales to f32
      const uint8_t* row = static_cast<const uint8_t*>(W.data) + (r0 + i) * row_bytes;
      const uint16_t* ws = reinterpret_cast<const uint16_t*>(row);
      for (int64_t b = 0; b < nc; ++b) {
        alignas(16) uint8_t packed[16];  // the block's bytes, gathered from its interleaved group
        quant::q4_0_block_bytes(row, W.cols, c0 + b, packed);
        const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(packed));
        _mm_store_si128(reinterpret_cast<__m128i*>(wbuf[i][b]), _mm_and_si128(v, low4));
        _mm_store_si128(reinterpret_cast<__m128i*>(wbuf[i][b] + 16), _mm_and_si128(_mm_srli_epi16(v, 4), low4));
        dw[i][b] = _cvtsh_ss(ws[c0 + b]);
      }
    }
    for (int64_t g = 0; g < L.groups; ++g) {
      __m256 acc[R];
      for (int i = 0; i < R; ++i) acc[i] = _mm256_loadu_ps(acc_mem.data() + (g * R + i) * kTok);
      for (int64_t b = 0; b < nc; ++b) {
        const int8_t* q = L.q(prep, g, c0 + b);
        __m256i s16[R];
        for (int i = 0; i < R; ++i) s16[i] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int d = 0; d < 8; ++d) {
          const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + d * 32));
#pragma GCC unroll 4
          for (int i = 0; i < R; ++i) {
            int32_t w4;
            std::memcpy(&w4, wbuf[i][b] + 4 * d, 4);
            const __m256i w = _mm256_set1_epi32(w4);
            s16[i] = _mm256_add_epi16(s16[i], _mm256_maddubs_epi16(w, x));
          }
        }
        const __m256 dx = _mm256_load_ps(L.dx(prep, g, c0 + b));
        const __m256i cx = _mm256_load_si256(reinterpret_cast<const __m256i*>(L.cx(prep, g, c0 + b)));
#pragma GCC unroll 4
        for (int i = 0; i < R; ++i) {
          const __m256i s32 = _mm256_add_epi32(_mm256_madd_epi16(s16[i], ones), cx);
          acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(_mm256_set1_ps(dw[i][b]), dx), acc[i]);
        }
      }
      for (int i = 0; i < R; ++i) _mm256_storeu_ps(acc_mem.data() + (g * R + i) * kTok, acc[i]);
    }
  }
  for (int64_t g = 0; g < L.groups; ++g)
    for (int i = 0; i < R; ++i)
      for (int64_t t = 0; t < kTok && g * kTok + t < n; ++t)
        Y[(g * kTok + t) * W.rows + r0 + i] = acc_mem[size_t((g * R + i) * kTok + t)];
}

}  // namespace

size_t gemm_q4_avx2_prep_bytes(const WeightMatrix& W, int64_t n) { return Layout(W, n).bytes(); }

void gemm_q4_avx2_prepare(const WeightMatrix& W, const float* X, int64_t n, void* prep) {
  const Layout L(W, n);
  const int64_t K = W.cols;
  std::memset(prep, 0, L.bytes());  // padding tokens: q = 0, dx = 0, cx = 0
  for (int64_t t = 0; t < n; ++t) {
    const int64_t g = t / kTok, lane = t % kTok;
    for (int64_t b = 0; b < L.nb; ++b) {
      int32_t qi[32], sum;
      const float dx = quantize_act_block(X + t * K + b * 32, K - b * 32, qi, sum);
      int8_t* q = const_cast<int8_t*>(L.q(prep, g, b));
      for (int k = 0; k < 32; ++k) q[(k / 4) * 32 + lane * 4 + k % 4] = int8_t(qi[k]);
      const_cast<float*>(L.dx(prep, g, b))[lane] = dx;
      const_cast<int32_t*>(L.cx(prep, g, b))[lane] = -8 * sum;
    }
  }
}

void gemm_q4_avx2_rows(const WeightMatrix& W, const void* prep, int64_t n, float* Y, int64_t r0, int64_t r1) {
  const Layout L(W, n);
  thread_local std::vector<float> acc_mem;
  int64_t r = r0;
  for (; r + kRows <= r1; r += kRows) tile<4>(W, L, prep, n, Y, r, acc_mem);
  switch (r1 - r) {
    case 3: tile<3>(W, L, prep, n, Y, r, acc_mem); break;
    case 2: tile<2>(W, L, prep, n, Y, r, acc_mem); break;
    case 1: tile<1>(W, L, prep, n, Y, r, acc_mem); break;
    default: break;
  }
}

}  // namespace fathom::ops::detail
