// The AVX512-BF16 path of lowp_gemm (lowp_gemm.h): operands decoded to BF16 panels (E4M3 values
// are exact in BF16), multiplied with VDPBF16PS: exact products summed in f32, 16 lanes x 2
// products per instruction, promoted with the block scales every 128 columns.
// GCC 12's _mm512_reduce_* and _mm512_cvtph_ps start from undefined vectors and warn in callers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/dtype.h"
#include "training/lowp_gemm.h"

namespace fathom::train::detail {

namespace {

// Rows [r0, r1) of m as BF16 [r1 - r0, nkb·128], zero-padded, with their scales. E4M3 goes through
// the FP16 bit pattern (value · 2^-8, exact also for subnormals, which BF16 arithmetic would
// flush), then f32, then BF16 (exact: 4 significant bits); the scales carry the 2^8.
void pack_bf16(const LowpMatrix& m, int64_t r0, int64_t r1, uint16_t* panel, float* scales) {
  const int64_t K = m.cols, nkb = m.col_blocks(), Kp = nkb * kLowpBlock;
  const bool e4m3 = m.format == LowpFormat::E4M3;
  for (int64_t r = r0; r < r1; ++r) {
    uint16_t* dst = panel + (r - r0) * Kp;
    int64_t k = 0;
    if (e4m3) {
      const uint8_t* src = m.e4m3_row(r);
      for (; k + 16 <= K; k += 16) {
        const __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k)));
        const __m256i h = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x80)), 8),
                                          _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7f)), 7));
        const __m256bh b = _mm512_cvtneps_pbh(_mm512_cvtph_ps(h));
        std::memcpy(dst + k, &b, 32);
      }
      for (; k < K; ++k) dst[k] = f32_to_bf16(e4m3_to_f32(src[k]) * 0x1p-8f);
    } else {
      std::memcpy(dst, m.bf16_row(r), size_t(K) * 2);
      k = K;
    }
    std::fill(dst + K, dst + Kp, uint16_t(0));
    for (int64_t kb = 0; kb < nkb; ++kb) scales[(r - r0) * nkb + kb] = m.scale_at(r, kb) * (e4m3 ? 256.0f : 1.0f);
  }
}

inline __m512bh load_bh(const uint16_t* p) {
  const __m512i v = _mm512_loadu_si512(p);
  __m512bh b;
  std::memcpy(&b, &v, 64);
  return b;
}

template <int MI, int NJ>
void tile(const uint16_t* A, const float* sa, const uint16_t* B, const float* sb, int64_t Kp, int64_t nkb, float* C,
          int64_t ldc, bool accumulate) {
  __m512 acc[MI][NJ];
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t kb = 0; kb < nkb; ++kb) {
    __m512 p[MI][NJ];
    for (int i = 0; i < MI; ++i)
      for (int j = 0; j < NJ; ++j) p[i][j] = _mm512_setzero_ps();
    for (int64_t k = kb * kLowpBlock; k < (kb + 1) * kLowpBlock; k += 32) {
      __m512bh b[NJ];
      for (int j = 0; j < NJ; ++j) b[j] = load_bh(B + j * Kp + k);
      for (int i = 0; i < MI; ++i) {
        const __m512bh a = load_bh(A + i * Kp + k);
        for (int j = 0; j < NJ; ++j) p[i][j] = _mm512_dpbf16_ps(p[i][j], a, b[j]);
      }
    }
    for (int i = 0; i < MI; ++i)
      for (int j = 0; j < NJ; ++j)
        acc[i][j] = _mm512_fmadd_ps(_mm512_set1_ps(sa[i * nkb + kb] * sb[j * nkb + kb]), p[i][j], acc[i][j]);
  }
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) {
      float& c = C[i * ldc + j];
      const float r = _mm512_reduce_add_ps(acc[i][j]);
      c = accumulate ? c + r : r;
    }
}

using TileFn = void (*)(const uint16_t*, const float*, const uint16_t*, const float*, int64_t, int64_t, float*, int64_t,
                        bool);
// 4 x 3: 12 partial and 12 promoted accumulators, 3 + 1 operand registers (28 of 32 zmm).
constexpr int kMI = 4, kNJ = 3;
constexpr TileFn kTiles[kMI][kNJ] = {
    {tile<1, 1>, tile<1, 2>, tile<1, 3>},
    {tile<2, 1>, tile<2, 2>, tile<2, 3>},
    {tile<3, 1>, tile<3, 2>, tile<3, 3>},
    {tile<4, 1>, tile<4, 2>, tile<4, 3>},
};

}  // namespace

void lowp_gemm_block_avx512bf16(const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc, bool accumulate,
                                int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const int64_t nkb = A.col_blocks(), Kp = nkb * kLowpBlock;
  thread_local std::vector<uint16_t> pa, pb;  // grow to the largest block once, then reused
  thread_local std::vector<float> sa, sb;
  pa.resize(size_t((i1 - i0) * Kp));
  pb.resize(size_t((j1 - j0) * Kp));
  sa.resize(size_t((i1 - i0) * nkb));
  sb.resize(size_t((j1 - j0) * nkb));
  pack_bf16(A, i0, i1, pa.data(), sa.data());
  pack_bf16(B, j0, j1, pb.data(), sb.data());
  for (int64_t i = i0; i < i1; i += kMI) {
    const int mi = int(std::min<int64_t>(kMI, i1 - i));
    for (int64_t j = j0; j < j1; j += kNJ) {
      const int nj = int(std::min<int64_t>(kNJ, j1 - j));
      kTiles[mi - 1][nj - 1](pa.data() + (i - i0) * Kp, sa.data() + (i - i0) * nkb, pb.data() + (j - j0) * Kp,
                             sb.data() + (j - j0) * nkb, Kp, nkb, C + i * ldc + j, ldc, accumulate);
    }
  }
}

}  // namespace fathom::train::detail
