// F8_E4M3 weight rows re-quantized to Q8_0 blocks for the int8 prefill GEMM (gemm_int8_avx512.cpp)
// with byte-table lookups (AVX512-VBMI). Bit for bit the result of the f32 route there
// (fp8_rows_to_q8): per 32-block, q = round(127 * w / amax) and d = amax / 127 * scale, w being the
// e4m3 value as the f16 route decodes it. Only cheaper, which is what lets an expert that sees a few
// dozen tokens of a prefill pay little for its conversion:
//   - amax: the e4m3 magnitude bytes (sign cleared) order like the values they encode, so a block's
//     amax is the value of its largest magnitude byte. 32 blocks (16 zmm) reduce at once through a
//     tree of byte unpacks and maxes (~2.5 instructions per block, not the ~10 of one horizontal
//     reduction per block).
//   - q: for a block whose largest magnitude byte is m, q of each byte is a lookup in the table row
//     kQ[m] (128 entries: one vpermi2b), stored already offset by 128 as the GEMM wants; a negative
//     weight's u8 is 0 - u of its magnitude (256 - (128 + q) = 128 - q).
// Rows are written in natural order (the 32 bytes of block i at i * 32).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"
#include "ops/gemm_int8.h"

namespace fathom::ops::detail {
namespace {

// The f16 route's decoded value of an e4m3 magnitude byte: 2^-8 of the e4m3 value (0x7f, e4m3's
// NaN, decodes to 480 * 2^-8 there, and here).
float decoded(int mag) { return f16_to_f32(uint16_t(mag << 7)); }

struct Tables {
  alignas(64) uint8_t q[128][128];  // q[m][b]: 128 + round(127 * decoded(b) / decoded(m)), b <= m
  float d[128];                     // amax / 127 of a block whose largest magnitude byte is m
  // Byte j (< 32): where block j of a 32-block group lands in the byte maxima of reduce_max (below);
  // one vpermb puts them in block order.
  alignas(64) uint8_t pos[64];
  Tables();
};

// Lane-wise max over each block of 32 blocks: v[i]'s 128-bit lane L holds half L % 2 of block
// 2i + L / 2. Unpacking two vectors' bytes and taking the max of the low and high unpack halves
// each 16-byte lane's content, pairing bytes i and i + 8 of one source (same parity, so each result
// byte keeps to one source); four levels fold 16 vectors into one whose bytes each hold one source
// lane's max, and swapping lanes 0<->1, 2<->3 joins a block's two halves. Where each block lands
// is fixed (Tables::pos).
__m512i reduce_max(__m512i v[16]) {
  for (int n = 16; n > 1; n /= 2)
    for (int i = 0; i < n / 2; ++i)
      v[i] = _mm512_max_epu8(_mm512_unpacklo_epi8(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_epi8(v[2 * i], v[2 * i + 1]));
  return _mm512_max_epu8(v[0], _mm512_shuffle_i64x2(v[0], v[0], 0xB1));
}

Tables::Tables() {
  for (int m = 0; m < 128; ++m) {
    const float amax = decoded(m), inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int b = 0; b < 128; ++b) q[m][b] = uint8_t(128 + int(std::nearbyint(decoded(b) * inv)));
    d[m] = amax / 127.0f;
  }
  // Source vector i's bytes all hold i: the output byte of lane L then names its source (lanes 0, 2
  // hold the two blocks of a source: its lanes 0-1 and 2-3).
  __m512i v[16];
  for (int i = 0; i < 16; ++i) v[i] = _mm512_set1_epi8(char(i));
  alignas(64) uint8_t out[64];
  _mm512_store_si512(out, reduce_max(v));
  std::memset(pos, 0, sizeof(pos));
  for (int p = 0; p < 16; ++p) {
    pos[2 * out[p]] = uint8_t(p);
    pos[2 * out[32 + p] + 1] = uint8_t(32 + p);
  }
}

const Tables& tables() {
  static const Tables t;
  return t;
}

inline __mmask64 mask64(int64_t n) { return n >= 64 ? ~__mmask64(0) : n <= 0 ? 0 : (__mmask64(1) << n) - 1; }

}  // namespace

void fp8_rows_to_q8_vbmi(const WeightMatrix& W, int64_t row, int64_t b0, int64_t b1, uint8_t* wdst, float* d) {
  const Tables& T = tables();
  const int64_t K = W.cols, nbc = (K + W.block_cols - 1) / W.block_cols;
  const uint8_t* p = static_cast<const uint8_t*>(W.data) + row * K;
  const float* scale = W.scale_inv + (row / W.block_rows) * nbc;
  const __m512i mag = _mm512_set1_epi8(0x7f), zero = _mm512_setzero_si512();
  const int64_t end = std::min(K, b1 * 32);  // past it (the row's end) bytes read as 0
  const __m512i order = _mm512_load_si512(T.pos);
  // The same columns of the row kPanelRows ahead, which the GEMM converts next: this pass is the
  // first to touch the weights, and in a profile of a prefill its loads were its hottest instructions.
  const uint8_t* ahead = row + kPanelRows < W.rows ? p + kPanelRows * K : nullptr;
  // The scale block of block b is b / per_scale; tracked by counting (no division per block).
  const int64_t per_scale = W.block_cols / 32;
  int64_t sb = b0 / per_scale, in_sb = b0 - sb * per_scale;
  for (int64_t g = b0; g < b1; g += 32) {
    __m512i v[16];
    for (int i = 0; i < 16; ++i) {
      const int64_t k = g * 32 + 64 * i;
      if (ahead && k < end) _mm_prefetch(reinterpret_cast<const char*>(ahead + k), _MM_HINT_T0);
      v[i] = _mm512_and_si512(_mm512_maskz_loadu_epi8(mask64(end - k), p + k), mag);
    }
    alignas(64) uint8_t mx[64];  // block j's largest magnitude byte in mx[j]
    _mm512_store_si512(mx, _mm512_permutexvar_epi8(order, reduce_max(v)));
    const int64_t nblocks = std::min<int64_t>(32, b1 - g);
    for (int64_t j = 0; j < nblocks; ++j) {
      const int64_t b = g + j, k = b * 32;
      const int m = mx[j];
      const __m512i bytes = _mm512_castsi256_si512(_mm256_maskz_loadu_epi8(__mmask32(mask64(end - k)), p + k));
      const __m512i u = _mm512_permutex2var_epi8(_mm512_load_si512(T.q[m]), bytes, _mm512_load_si512(T.q[m] + 64));
      const __m512i s = _mm512_mask_sub_epi8(u, _mm512_movepi8_mask(bytes), zero, u);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(wdst + (b - b0) * 32), _mm512_castsi512_si256(s));
      // 256: the decoded values are 2^-8 of the e4m3 ones.
      d[b - b0] = T.d[m] * (scale[sb] * 256.0f);
      if (++in_sb == per_scale) {
        in_sb = 0;
        ++sb;
      }
    }
  }
}

}  // namespace fathom::ops::detail
