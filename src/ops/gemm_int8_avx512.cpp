// Prefill GEMM for Q8_0 / Q4_0 (and, converted per row panel, F8_E4M3) weights with int8 activations and AVX-512 VNNI (vpdpbusd: 64 int8
// multiply-adds per instruction, several times the fp32 FMA rate). vpdpbusd multiplies
// unsigned by signed bytes: the weights are the unsigned operand as stored (Q8_0: q + 128; Q4_0: the
// nibble, q + 8) against signed activations, and the offset costs -off * sum(x) per (token, block),
// off = 128 / 8, from the activations alone. It is added in f32 with the activation scale
// (dx * acc + cx, cx = -off * dx * sum(q)): one fused op, no per-row correction.
//
// Activations (gemm_i8_prepare): each token is quantized per 32-block like the GEMV path
// (q = round(x / dx), dx = amax / 127) and stored transposed, 16 tokens to a group, so one zmm holds
// the same 4 consecutive k of 16 tokens:
//   group g: xq [nb][8][16 tokens][4 bytes]  (padding 0)
//            dx [nb][16 tokens] f32          (padding tokens 0)
//            cx [nb][16 tokens] f32 = -off * dx * sum(q)
// Weights: 4 bytes of a row (one dword of a block) broadcast to every lane. The weights are
// block-interleaved (ops/quant/block_groups.h): dword k of block b lies at off[b] + k * stride[b]
// within the chunk, from a table shared by all rows. Q8_0 is read in place; Q4_0 is first split into
// low and high nibbles in a small per-row buffer with the same addressing (low dwords of a group,
// then its high dwords, so dword k = 4..7 of the natural order is the high half of stored dword k-4).
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

#include "cpu/kernel_isa.h"
#include "ops/gemm_int8.h"
#include "ops/quant/block_groups.h"
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
    group_bytes = nb * (kBlockBytes + kLanes * 4 * 2);
  }
  uint8_t* xq(const void* p, int64_t g) const {
    return static_cast<uint8_t*>(const_cast<void*>(p)) + g * group_bytes;
  }
  float* dx(const void* p, int64_t g) const { return reinterpret_cast<float*>(xq(p, g) + nb * kBlockBytes); }
  float* cx(const void* p, int64_t g) const { return dx(p, g) + nb * kLanes; }
};

inline __mmask16 tail16(int64_t n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }
inline __mmask64 bytes_mask(int64_t n) { return n >= 64 ? ~0ull : (1ull << n) - 1; }

// Where a chunk's blocks keep their dwords: dword k of block b0 + i at w + off[i] + k * stride[i]
// (Q8_0 in place, from the chunk's first byte; Q4_0 in the unpacked buffer, same addressing).
struct ChunkMap {
  int32_t off[kChunkBlocks], stride[kChunkBlocks];
  // Rows converted into the thread's buffer in natural order (F8_E4M3): block i's 32 bytes at i * 32.
  static ChunkMap natural() {
    ChunkMap m;
    for (int64_t i = 0; i < kChunkBlocks; ++i) {
      m.off[i] = int32_t(i * 32);
      m.stride[i] = 4;
    }
    return m;
  }
  ChunkMap() = default;
  ChunkMap(int64_t nb, int64_t b0, int64_t b1) {
    quant::for_each_block_group(nb, [&](quant::BlockGroup g) {
      if (g.first + g.blocks <= b0 || g.first >= b1) return;
      for (int64_t j = 0; j < g.blocks; ++j) {
        off[g.first + j - b0] = int32_t((g.first - b0) * 32 + j * 4);
        stride[g.first + j - b0] = int32_t(g.blocks * 4);
      }
    });
  }
};

// Rows of a tile for one k chunk: per row the chunk's weight bytes (see ChunkMap) and f32 scales.
struct RowPanel {
  const uint8_t* w[4];
  const float* d[4];
  const ChunkMap* map;
};

// F8_E4M3 rows become Q8_0 blocks in the thread's buffer: each 32-block is decoded exactly (the f16
// route of gemv_float_avx512.cpp), quantized to q = round(127 * w / amax) with its scale
// d = amax / 127 kept in f32, and stored in the chunk's block-interleaved addressing. A block of 32
// lies inside one 128x128 scale block (block_cols is a multiple of 32), so w's block scale is a
// factor of d. Stored in natural order (ChunkMap::natural). Done once per row panel and k chunk, then
// used by every token group. With VBMI, fp8_rows_to_q8_vbmi gives the same bytes by table lookups,
// in about a third of the time (docs/PERFORMANCE.md, run 15).
void fp8_rows_to_q8(const WeightMatrix& W, int64_t row, int64_t b0, int64_t b1, uint8_t* wdst, float* d) {
  const int64_t K = W.cols, nbc = (K + W.block_cols - 1) / W.block_cols;
  const uint8_t* p = static_cast<const uint8_t*>(W.data) + row * K;
  const float* scale = W.scale_inv + (row / W.block_rows) * nbc;
  const __m512i f16_mask = _mm512_set1_epi16(int16_t(0xBF80));
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t k = b * 32;
    const __m256i bytes = _mm256_maskz_loadu_epi8(__mmask32(k + 32 <= K ? ~0u : (1u << (K - k)) - 1), p + k);
    const __m512i h = _mm512_and_si512(_mm512_slli_epi16(_mm512_cvtepi8_epi16(bytes), 7), f16_mask);
    const __m512 w0 = _mm512_cvtph_ps(_mm512_castsi512_si256(h)), w1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(w0), _mm512_abs_ps(w1)));
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    const __m512i off = _mm512_set1_epi32(128);
    const __m512i q0 = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(w0, _mm512_set1_ps(inv))), off);
    const __m512i q1 = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(w1, _mm512_set1_ps(inv))), off);
    alignas(16) uint8_t u[32];
    _mm_store_si128(reinterpret_cast<__m128i*>(u), _mm512_cvtepi32_epi8(q0));
    _mm_store_si128(reinterpret_cast<__m128i*>(u + 16), _mm512_cvtepi32_epi8(q1));
    const int64_t i = b - b0;
    std::memcpy(wdst + i * 32, u, 32);
    // 256: the decoded values are 2^-8 of the e4m3 ones.
    d[i] = amax / 127.0f * (scale[k / W.block_cols] * 256.0f);
  }
}

// Fills rows [r, r + R) for blocks [b0, b1) into the thread's buffers (Q8_0 weights are used in place).
void unpack_rows(const WeightMatrix& W, int64_t r, int R, int64_t b0, int64_t b1, RowPanel& p) {
  thread_local std::vector<uint8_t> wbuf;
  thread_local std::vector<float> dbuf;
  const int64_t nb = (W.cols + 31) / 32;
  wbuf.resize(size_t(4 * kChunkBlocks * 32));
  dbuf.resize(size_t(4 * kChunkBlocks));
  const bool q4 = W.format == WFormat::Q4_0;
  const int64_t row_bytes = q4 ? quant::q4_0_row_bytes(W.cols) : quant::q8_0_row_bytes(W.cols);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  static const bool vbmi = cpu::kernel_isa_supported(cpu::KernelIsa::avx512vbmi);
  for (int i = 0; i < R; ++i) {
    if (W.format == WFormat::F8_E4M3) {
      float* d = dbuf.data() + i * kChunkBlocks;
      uint8_t* wdst = wbuf.data() + i * kChunkBlocks * 32;
      if (vbmi) fp8_rows_to_q8_vbmi(W, r + i, b0, b1, wdst, d);
      else fp8_rows_to_q8(W, r + i, b0, b1, wdst, d);
      p.d[i] = d;
      p.w[i] = wdst;
      continue;
    }
    const uint8_t* row = static_cast<const uint8_t*>(W.data) + (r + i) * row_bytes;
    const uint16_t* scales = reinterpret_cast<const uint16_t*>(row);
    const uint8_t* q = row + 2 * nb;
    float* d = dbuf.data() + i * kChunkBlocks;
    // Scales, 16 at a time (F16C).
    for (int64_t b = b0; b < b1; b += 16) {
      const __mmask16 m = tail16(b1 - b);
      const __m256i h = _mm256_maskz_loadu_epi16(m, scales + b);
      _mm512_mask_storeu_ps(d + (b - b0), m, _mm512_cvtph_ps(h));
    }
    p.d[i] = d;
    if (!q4) {
      p.w[i] = q + b0 * 32;
      continue;
    }
    // Q4_0: each group's 16 * G stored bytes become 16 * G bytes of low nibbles then 16 * G of high.
    uint8_t* wdst = wbuf.data() + i * kChunkBlocks * 32;
    quant::for_each_block_group(nb, [&](quant::BlockGroup g) {
      if (g.first + g.blocks <= b0 || g.first >= b1) return;
      const int64_t bytes = 16 * g.blocks;
      const uint8_t* src = q + g.first * 16;
      uint8_t* dst = wdst + (g.first - b0) * 32;
      for (int64_t o = 0; o < bytes; o += 64) {
        const __mmask64 m = bytes_mask(bytes - o);
        const __m512i v = _mm512_maskz_loadu_epi8(m, src + o);
        _mm512_mask_storeu_epi8(dst + o, m, _mm512_and_si512(v, low4));
        _mm512_mask_storeu_epi8(dst + bytes + o, m, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
      }
    });
    p.w[i] = wdst;
  }
}

// facc[r][g] = rows r of the panel x token groups g over the chunk's cb blocks (xq0 / dx0 point at the
// chunk's first block of the first group; cx0 likewise).
template <int R, int G>
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
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 3
      for (int g = 0; g < G; ++g) acc[r][g] = _mm512_setzero_si512();
    const int64_t off = p.map->off[b], stride = p.map->stride[b];
    const uint8_t* xb = xq0 + b * kBlockBytes;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512i xv[G];
#pragma GCC unroll 3
      for (int g = 0; g < G; ++g) xv[g] = _mm512_loadu_si512(xb + g * group_bytes + j * 64);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        int32_t w4;
        std::memcpy(&w4, p.w[r] + off + j * stride, 4);
        const __m512i wb = _mm512_set1_epi32(w4);
#pragma GCC unroll 3
        for (int g = 0; g < G; ++g) acc[r][g] = _mm512_dpbusd_epi32(acc[r][g], wb, xv[g]);
      }
    }
    __m512 dxv[G], cxv[G];
#pragma GCC unroll 3
    for (int g = 0; g < G; ++g) {
      dxv[g] = group_floats(dx0, g, b);
      cxv[g] = group_floats(cx0, g, b);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m512 dw = _mm512_set1_ps(p.d[r][b]);
#pragma GCC unroll 3
      for (int g = 0; g < G; ++g) {
        const __m512 a = _mm512_cvtepi32_ps(acc[r][g]);
        facc[r][g] = _mm512_fmadd_ps(_mm512_fmadd_ps(a, dxv[g], cxv[g]), dw, facc[r][g]);
      }
    }
  }
}

template <int R>
void tile_groups(int G, const RowPanel& p, const uint8_t* xq0, const float* dx0, const float* cx0, int64_t gb,
                 int64_t cb, __m512 facc[4][3]) {
  switch (G) {
    case 3: return tile<R, 3>(p, xq0, dx0, cx0, gb, cb, facc);
    case 2: return tile<R, 2>(p, xq0, dx0, cx0, gb, cb, facc);
    default: return tile<R, 1>(p, xq0, dx0, cx0, gb, cb, facc);
  }
}

void tile_any(int R, int G, const RowPanel& p, const uint8_t* xq0, const float* dx0, const float* cx0, int64_t gb,
              int64_t cb, __m512 facc[4][3]) {
  switch (R) {
    case 4: return tile_groups<4>(G, p, xq0, dx0, cx0, gb, cb, facc);
    case 3: return tile_groups<3>(G, p, xq0, dx0, cx0, gb, cb, facc);
    case 2: return tile_groups<2>(G, p, xq0, dx0, cx0, gb, cb, facc);
    default: return tile_groups<1>(G, p, xq0, dx0, cx0, gb, cb, facc);
  }
}

}  // namespace

size_t gemm_i8_prep_bytes(const WeightMatrix& W, int64_t n) {
  const Layout L(W, n);
  return size_t(L.groups * L.group_bytes);
}

void gemm_i8_prepare(const WeightMatrix& W, const float* X, int64_t n, void* prep) {
  const Layout L(W, n);
  const int64_t K = W.cols;
  const float off = L.q4 ? 8.0f : 128.0f;  // the weights' storage offset, undone through cx
  for (int64_t g = 0; g < L.groups; ++g) {
    uint8_t* xq = L.xq(prep, g);
    float* dx = L.dx(prep, g);
    float* cx = L.cx(prep, g);
    for (int64_t l = 0; l < kLanes; ++l) {
      const int64_t t = g * kLanes + l;
      if (t >= n) {  // padding token: x = 0
        for (int64_t b = 0; b < L.nb; ++b) {
          dx[b * kLanes + l] = 0.0f;
          cx[b * kLanes + l] = 0.0f;
          for (int j = 0; j < 8; ++j) std::memset(xq + b * kBlockBytes + j * 64 + l * 4, 0, 4);
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
        _mm_store_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(i0));
        _mm_store_si128(reinterpret_cast<__m128i*>(q + 4), _mm512_cvtepi32_epi8(i1));
        for (int j = 0; j < 8; ++j) std::memcpy(xq + b * kBlockBytes + j * 64 + l * 4, &q[j], 4);
        const float d = amax / 127.0f;
        dx[b * kLanes + l] = d;
        cx[b * kLanes + l] = -off * d * float(_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1)));
      }
    }
  }
}

void gemm_i8_rows(const WeightMatrix& W, const void* prep, int64_t n, float* Y, int64_t r0, int64_t r1) {
  const Layout L(W, n);
  const int64_t ldy = W.rows;
  for (int64_t b0 = 0; b0 < L.nb; b0 += kChunkBlocks) {
    const int64_t b1 = std::min(L.nb, b0 + kChunkBlocks);
    static const ChunkMap natural = ChunkMap::natural();
    const ChunkMap map = W.format == WFormat::F8_E4M3 ? natural : ChunkMap(L.nb, b0, b1);
    for (int64_t r = r0; r < r1; r += kPanelRows) {
      const int R = int(std::min<int64_t>(kPanelRows, r1 - r));
      RowPanel p;
      p.map = &map;
      unpack_rows(W, r, R, b0, b1, p);
      for (int64_t g0 = 0; g0 < L.groups; g0 += 3) {
        const int G = int(std::min<int64_t>(3, L.groups - g0));
        __m512 facc[4][3];
        tile_any(R, G, p, L.xq(prep, g0) + b0 * kBlockBytes, L.dx(prep, g0) + b0 * kLanes,
                 L.cx(prep, g0) + b0 * kLanes, L.group_bytes, b1 - b0, facc);
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
