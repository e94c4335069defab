// Prefill GEMM for Q8_0 / Q4_0 weights with int8 activations and AVX-512 VNNI (vpdpbusd: 64 int8
// multiply-adds per instruction, 4.3x the fp32 FMA rate on the dev machine). vpdpbusd multiplies
// unsigned by signed bytes, so one side carries an offset:
//   Q8_0: weights are signed; activations are fed as u8 = q + 128, and the integer accumulator of
//         every (row, block) starts at -128 * sum(w), from the weights.
//   Q4_0: weights are fed as their raw nibbles (0..15, unsigned) against signed activations; the
//         offset (nibble - 8) costs -8 * sum(q) per (token, block), from the activations, and is
//         added in f32 with the activation scale (dx * acc - 8 * dx * sum(q)): one fused op, no
//         per-row correction and no accumulator start value (8% fewer vector ops per block).
//
// Activations (gemm_i8_prepare): each token is quantized per 32-block like the GEMV path
// (q = round(x / dx), dx = amax / 127) and stored transposed, 16 tokens to a group, so one zmm holds
// the same 4 consecutive k of 16 tokens:
//   group g: xq [nb][8][16 tokens][4 bytes]  (Q8_0: q + 128, padding 128; Q4_0: q, padding 0)
//            dx [nb][16 tokens] f32          (padding tokens 0)
//            Q4_0 only: cx [nb][16 tokens] f32 = -8 * dx * sum(q)
// Weights: 4 bytes of a row broadcast to every lane (Q4_0 blocks are first unpacked to nibbles in
// natural order in a small per-row buffer; Q8_0 is used in place).
//
// Tile: 4 rows x 3 token groups (48 tokens): 12 int32 accumulators per block, 12 f32 accumulators
// across blocks; per block and 4-k step, 3 activation loads and 4 weight broadcasts feed 12
// vpdpbusd. The k range is cut into chunks so a chunk of every token group stays in L2 while all
// rows pass over it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/gemm_int8.h"
#include "ops/quant/q4_0.h"
#include "ops/quant/q8_0.h"

namespace fathom::ops::detail {
namespace {

constexpr int64_t kLanes = 16;      // tokens per group
constexpr int64_t kBlockBytes = 512;  // one block of one group: 8 x 64 bytes
constexpr int64_t kChunkBlocks = 64;  // k chunk: 64 blocks = 2048 columns

struct Layout {
  int64_t nb, groups, group_bytes;
  bool q4;
  Layout(const WeightMatrix& W, int64_t n)
      : nb((W.cols + 31) / 32), groups((n + kLanes - 1) / kLanes), q4(W.format == WFormat::Q4_0) {
    group_bytes = nb * (kBlockBytes + kLanes * 4 * (q4 ? 2 : 1));
  }
  uint8_t* xq(const void* p, int64_t g) const {
    return static_cast<uint8_t*>(const_cast<void*>(p)) + g * group_bytes;
  }
  float* dx(const void* p, int64_t g) const { return reinterpret_cast<float*>(xq(p, g) + nb * kBlockBytes); }
  float* cx(const void* p, int64_t g) const { return dx(p, g) + nb * kLanes; }  // Q4_0 only
};

inline __mmask16 tail16(int64_t n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }

// Rows of a tile for one k chunk (block 0 = the chunk's first): per block the 32 weights (Q8_0: signed;
// Q4_0: nibbles), the f32 scale and (Q8_0) -128 * sum(w).
struct RowPanel {
  const int8_t* w[4];
  const float* d[4];
  const int32_t* corr[4];
};

// Fills rows [r, r + R) for blocks [b0, b1) into the thread's buffers (Q8_0 weights are used in place).
void unpack_rows(const WeightMatrix& W, int64_t r, int R, int64_t b0, int64_t b1, RowPanel& p) {
  thread_local std::vector<int8_t> wbuf;
  thread_local std::vector<float> dbuf;
  thread_local std::vector<int32_t> cbuf;
  const int64_t nb = (W.cols + 31) / 32;
  wbuf.resize(size_t(4 * kChunkBlocks * 32));
  dbuf.resize(size_t(4 * kChunkBlocks));
  cbuf.resize(size_t(4 * kChunkBlocks));
  const bool q4 = W.format == WFormat::Q4_0;
  const int64_t row_bytes = q4 ? quant::q4_0_row_bytes(W.cols) : quant::q8_0_row_bytes(W.cols);
  const __m256i bias = _mm256_set1_epi8(char(0x80)), zero = _mm256_setzero_si256();
  for (int i = 0; i < R; ++i) {
    const uint8_t* row = static_cast<const uint8_t*>(W.data) + (r + i) * row_bytes;
    const uint16_t* scales = reinterpret_cast<const uint16_t*>(row);
    float* d = dbuf.data() + i * kChunkBlocks;
    int32_t* corr = cbuf.data() + i * kChunkBlocks;
    int8_t* wdst = wbuf.data() + i * kChunkBlocks * 32;
    // Scales, 16 at a time (F16C).
    for (int64_t b = b0; b < b1; b += 16) {
      const __mmask16 m = tail16(b1 - b);
      const __m256i h = _mm256_maskz_loadu_epi16(m, scales + b);
      _mm512_mask_storeu_ps(d + (b - b0), m, _mm512_cvtph_ps(h));
    }
    int64_t b = b0;
    alignas(64) int64_t sv[8];
    if (q4) {
      // 4 blocks per 64-byte load: nibbles split and each block laid out [low 16 | high 16], i.e. in
      // natural k order, as unsigned 0..15 (the -8 is the activations' business).
      const __m512i idx0 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), idx1 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
      const __m512i low4 = _mm512_set1_epi8(0x0f);
      for (; b + 4 <= b1; b += 4) {
        const __m512i packed = _mm512_loadu_si512(row + 2 * nb + b * 16);
        const __m512i lo = _mm512_and_si512(packed, low4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low4);
        _mm512_storeu_si512(wdst + (b - b0) * 32, _mm512_permutex2var_epi64(lo, idx0, hi));
        _mm512_storeu_si512(wdst + (b - b0) * 32 + 64, _mm512_permutex2var_epi64(lo, idx1, hi));
      }
    } else {
      // 2 blocks per 64-byte load: sum(w) = sum(w + 128) - 32 * 128 from vpsadbw of the biased bytes.
      for (; b + 2 <= b1; b += 2) {
        const __m512i w = _mm512_loadu_si512(row + 2 * nb + b * 32);
        _mm512_store_si512(sv, _mm512_sad_epu8(_mm512_xor_si512(w, _mm512_set1_epi8(char(0x80))), _mm512_setzero_si512()));
        corr[b - b0] = int32_t(-128 * (sv[0] + sv[1] + sv[2] + sv[3] - 32 * 128));
        corr[b - b0 + 1] = int32_t(-128 * (sv[4] + sv[5] + sv[6] + sv[7] - 32 * 128));
      }
    }
    for (; b < b1; ++b) {  // the chunk's last blocks, one at a time
      if (q4) {
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * nb + b * 16));
        const __m128i lo = _mm_and_si128(packed, _mm_set1_epi8(0x0f));
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0f));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(wdst + (b - b0) * 32), _mm256_set_m128i(hi, lo));
        continue;
      }
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * nb + b * 32));
      const __m256i s = _mm256_sad_epu8(_mm256_xor_si256(w, bias), zero);
      const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      const int64_t sum = _mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1) - 32 * 128;
      corr[b - b0] = int32_t(-128 * sum);
    }
    p.w[i] = q4 ? wdst : reinterpret_cast<const int8_t*>(row + 2 * nb + b0 * 32);
    p.d[i] = d;
    p.corr[i] = corr;
  }
}

// facc[r][g] = rows r of the panel x token groups g over the chunk's cb blocks (xq0 / dx0 point at the
// chunk's first block of the first group; Q4: cx0 likewise at the activation-side offsets).
template <bool Q4, int R, int G>
void tile(const RowPanel& p, const uint8_t* xq0, const float* dx0, const float* cx0, int64_t group_bytes, int64_t cb,
          __m512 facc[4][3]) {
  auto group_floats = [&](const float* base, int g, int64_t b) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(reinterpret_cast<const uint8_t*>(base) + g * group_bytes) +
                           b * kLanes);
  };
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 3
    for (int g = 0; g < G; ++g) facc[r][g] = _mm512_setzero_ps();
  for (int64_t b = 0; b < cb; ++b) {
    __m512i acc[R][G];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m512i c = Q4 ? _mm512_setzero_si512() : _mm512_set1_epi32(p.corr[r][b]);
#pragma GCC unroll 3
      for (int g = 0; g < G; ++g) acc[r][g] = c;
    }
    const uint8_t* xb = xq0 + b * kBlockBytes;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512i xv[G];
#pragma GCC unroll 3
      for (int g = 0; g < G; ++g) xv[g] = _mm512_loadu_si512(xb + g * group_bytes + j * 64);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        int32_t w4;
        std::memcpy(&w4, p.w[r] + b * 32 + j * 4, 4);
        const __m512i wb = _mm512_set1_epi32(w4);
#pragma GCC unroll 3
        for (int g = 0; g < G; ++g)  // the unsigned operand first: Q4_0 nibbles, or Q8_0's q + 128
          acc[r][g] = Q4 ? _mm512_dpbusd_epi32(acc[r][g], wb, xv[g]) : _mm512_dpbusd_epi32(acc[r][g], xv[g], wb);
      }
    }
    __m512 dxv[G], cxv[G];
#pragma GCC unroll 3
    for (int g = 0; g < G; ++g) {
      dxv[g] = group_floats(dx0, g, b);
      if constexpr (Q4) cxv[g] = group_floats(cx0, g, b);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m512 dw = _mm512_set1_ps(p.d[r][b]);
#pragma GCC unroll 3
      for (int g = 0; g < G; ++g) {
        const __m512 a = _mm512_cvtepi32_ps(acc[r][g]);
        if constexpr (Q4)
          facc[r][g] = _mm512_fmadd_ps(_mm512_fmadd_ps(a, dxv[g], cxv[g]), dw, facc[r][g]);
        else
          facc[r][g] = _mm512_fmadd_ps(a, _mm512_mul_ps(dw, dxv[g]), facc[r][g]);
      }
    }
  }
}

template <bool Q4, int R>
void tile_groups(int G, const RowPanel& p, const uint8_t* xq0, const float* dx0, const float* cx0, int64_t gb,
                 int64_t cb, __m512 facc[4][3]) {
  switch (G) {
    case 3: return tile<Q4, R, 3>(p, xq0, dx0, cx0, gb, cb, facc);
    case 2: return tile<Q4, R, 2>(p, xq0, dx0, cx0, gb, cb, facc);
    default: return tile<Q4, R, 1>(p, xq0, dx0, cx0, gb, cb, facc);
  }
}

template <bool Q4>
void tile_rows(int R, int G, const RowPanel& p, const uint8_t* xq0, const float* dx0, const float* cx0, int64_t gb,
               int64_t cb, __m512 facc[4][3]) {
  switch (R) {
    case 4: return tile_groups<Q4, 4>(G, p, xq0, dx0, cx0, gb, cb, facc);
    case 3: return tile_groups<Q4, 3>(G, p, xq0, dx0, cx0, gb, cb, facc);
    case 2: return tile_groups<Q4, 2>(G, p, xq0, dx0, cx0, gb, cb, facc);
    default: return tile_groups<Q4, 1>(G, p, xq0, dx0, cx0, gb, cb, facc);
  }
}

void tile_any(bool q4, int R, int G, const RowPanel& p, const uint8_t* xq0, const float* dx0, const float* cx0,
              int64_t gb, int64_t cb, __m512 facc[4][3]) {
  if (q4) return tile_rows<true>(R, G, p, xq0, dx0, cx0, gb, cb, facc);
  tile_rows<false>(R, G, p, xq0, dx0, cx0, gb, cb, facc);
}

}  // namespace

size_t gemm_i8_prep_bytes(const WeightMatrix& W, int64_t n) {
  const Layout L(W, n);
  return size_t(L.groups * L.group_bytes);
}

void gemm_i8_prepare(const WeightMatrix& W, const float* X, int64_t n, void* prep) {
  const Layout L(W, n);
  const int64_t K = W.cols;
  // Q8_0 feeds the activations as the unsigned operand (q + 128); Q4_0 as the signed one.
  const uint8_t offset = L.q4 ? 0x00 : 0x80;
  const __m128i bias = _mm_set1_epi8(char(offset));
  for (int64_t g = 0; g < L.groups; ++g) {
    uint8_t* xq = L.xq(prep, g);
    float* dx = L.dx(prep, g);
    float* cx = L.q4 ? L.cx(prep, g) : nullptr;
    for (int64_t l = 0; l < kLanes; ++l) {
      const int64_t t = g * kLanes + l;
      if (t >= n) {  // padding token: x = 0
        for (int64_t b = 0; b < L.nb; ++b) {
          dx[b * kLanes + l] = 0.0f;
          if (cx) cx[b * kLanes + l] = 0.0f;
          for (int j = 0; j < 8; ++j) std::memset(xq + b * kBlockBytes + j * 64 + l * 4, offset, 4);
        }
        continue;
      }
      const float* x = X + t * K;
      for (int64_t b = 0; b < L.nb; ++b) {
        const int64_t k = b * 32;
        const __m512 v0 = _mm512_maskz_loadu_ps(tail16(K - k), x + k);
        const __m512 v1 = _mm512_maskz_loadu_ps(tail16(K - k - 16), x + k + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float inv = amax > 0 ? 127.0f / amax : 0.0f;
        const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(inv)));  // nearest-even
        const __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(inv)));
        alignas(16) uint32_t q[8];
        _mm_store_si128(reinterpret_cast<__m128i*>(q), _mm_xor_si128(_mm512_cvtepi32_epi8(i0), bias));
        _mm_store_si128(reinterpret_cast<__m128i*>(q + 4), _mm_xor_si128(_mm512_cvtepi32_epi8(i1), bias));
        for (int j = 0; j < 8; ++j) std::memcpy(xq + b * kBlockBytes + j * 64 + l * 4, &q[j], 4);
        const float d = amax / 127.0f;
        dx[b * kLanes + l] = d;
        if (cx) cx[b * kLanes + l] = -8.0f * d * float(_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1)));
      }
    }
  }
}

void gemm_i8_rows(const WeightMatrix& W, const void* prep, int64_t n, float* Y, int64_t r0, int64_t r1) {
  const Layout L(W, n);
  const int64_t ldy = W.rows;
  for (int64_t b0 = 0; b0 < L.nb; b0 += kChunkBlocks) {
    const int64_t b1 = std::min(L.nb, b0 + kChunkBlocks);
    for (int64_t r = r0; r < r1; r += 4) {
      const int R = int(std::min<int64_t>(4, r1 - r));
      RowPanel p;
      unpack_rows(W, r, R, b0, b1, p);
      for (int64_t g0 = 0; g0 < L.groups; g0 += 3) {
        const int G = int(std::min<int64_t>(3, L.groups - g0));
        __m512 facc[4][3];
        tile_any(L.q4, R, G, p, L.xq(prep, g0) + b0 * kBlockBytes, L.dx(prep, g0) + b0 * kLanes,
                 L.q4 ? L.cx(prep, g0) + b0 * kLanes : nullptr, L.group_bytes, b1 - b0, facc);
        // Transposed write: each token gets its R consecutive outputs in one short store (single-float
        // stores to every token's row cost more than the tile's arithmetic at small n).
        const __mmask8 m = __mmask8((1u << R) - 1);
        for (int g = 0; g < G; ++g) {
          __m512 v[4];
          for (int i = 0; i < 4; ++i) v[i] = i < R ? facc[i][g] : _mm512_setzero_ps();
          // 4 x 16 -> 16 x 4: 128-bit lane L of u[k] holds token 4L + k's four rows.
          const __m512 t0 = _mm512_unpacklo_ps(v[0], v[1]), t1 = _mm512_unpackhi_ps(v[0], v[1]);
          const __m512 t2 = _mm512_unpacklo_ps(v[2], v[3]), t3 = _mm512_unpackhi_ps(v[2], v[3]);
          const __m512 u[4] = {_mm512_shuffle_ps(t0, t2, 0x44), _mm512_shuffle_ps(t0, t2, 0xee),
                               _mm512_shuffle_ps(t1, t3, 0x44), _mm512_shuffle_ps(t1, t3, 0xee)};
          alignas(64) float out[4][16];
          for (int k = 0; k < 4; ++k) _mm512_store_ps(out[k], u[k]);
          const int64_t t0k = (g0 + g) * kLanes, nt = std::min(kLanes, n - t0k);
          for (int64_t l = 0; l < nt; ++l) {
            float* y = Y + (t0k + l) * ldy + r;
            __m128 x = _mm_load_ps(&out[l % 4][(l / 4) * 4]);
            if (b0 != 0) x = _mm_add_ps(x, _mm_maskz_loadu_ps(m, y));
            _mm_mask_storeu_ps(y, m, x);
          }
        }
      }
    }
  }
}

}  // namespace fathom::ops::detail
