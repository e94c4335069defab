// Quantization to E4M3 / BF16 tiles, the scalar reference GEMM, the AVX2 + F16C GEMM and the
// run-time choice of path (lowp_gemm.h). The AVX512-BF16 path is lowp_gemm_avx512bf16.cpp.
#include "training/lowp_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"
#include "cpu/cpu_features.h"
#include "cpu/kernel_isa.h"

namespace fathom::train {

uint8_t e4m3_encode(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint8_t sign = uint8_t((u >> 24) & 0x80);
  const float a = std::fabs(x);
  if (!(a < kE4M3Max)) return sign | 0x7e;  // 448 and above (S.1111.111 is NaN, so 448 is the largest)
  if (a < 0x1p-6f) return sign | uint8_t(std::nearbyint(a * 512.0f));  // subnormals: multiples of 2^-9; 8 = 2^-6
  uint32_t au = u & 0x7fffffffu;
  au += 0x7ffffu + ((au >> 20) & 1u);  // round the 23-bit mantissa to 3 bits, nearest even (carries into the exponent)
  return sign | uint8_t((au >> 20) - (120u << 3));  // exponent bias 127 -> 7
}

namespace {

float abs_max(const float* x, int64_t n) {
  const __m256 mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), mask));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float r = 0.0f;
  for (float v : lanes) r = std::max(r, v);
  for (; i < n; ++i) r = std::max(r, std::fabs(x[i]));
  return r;
}

// out[i] = e4m3_encode(x[i] / s), eight at a time with the same arithmetic (the division in f32,
// then e4m3_encode's bit rounding; values past 448 are clamped to it, which encodes to 0x7e).
void encode_row(const float* x, int64_t n, float s, uint8_t* out) {
  const __m256 vs = _mm256_set1_ps(s), max = _mm256_set1_ps(kE4M3Max), min_normal = _mm256_set1_ps(0x1p-6f);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_castps_si256(_mm256_div_ps(_mm256_loadu_ps(x + i), vs));
    const __m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 24), _mm256_set1_epi32(0x80));
    const __m256 a = _mm256_min_ps(_mm256_castsi256_ps(_mm256_and_si256(u, abs_mask)), max);
    __m256i au = _mm256_castps_si256(a);
    au = _mm256_add_epi32(au, _mm256_add_epi32(_mm256_set1_epi32(0x7ffff),
                                               _mm256_and_si256(_mm256_srli_epi32(au, 20), _mm256_set1_epi32(1))));
    const __m256i normal = _mm256_sub_epi32(_mm256_srli_epi32(au, 20), _mm256_set1_epi32(120 << 3));
    const __m256i sub = _mm256_cvtps_epi32(_mm256_mul_ps(a, _mm256_set1_ps(512.0f)));  // nearest even
    const __m256i code = _mm256_or_si256(
        sign, _mm256_blendv_epi8(normal, sub, _mm256_castps_si256(_mm256_cmp_ps(a, min_normal, _CMP_LT_OQ))));
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(code), _mm256_extracti128_si256(code, 1));
    const __m128i b = _mm_packus_epi16(w, w);
    std::memcpy(out + i, &b, 8);
  }
  for (; i < n; ++i) out[i] = e4m3_encode(x[i] / s);
}

}  // namespace

void lowp_quantize(const Ops& ops, LowpFormat format, int64_t row_group, const float* src, int64_t rows, int64_t cols,
                   int64_t ld, LowpMatrix& dst) {
  dst.format = format;
  dst.rows = rows;
  dst.cols = cols;
  dst.row_group = format == LowpFormat::E4M3 ? std::max<int64_t>(row_group, 1) : 1;
  const size_t elem = format == LowpFormat::E4M3 ? 1 : 2;
  dst.bytes.resize(size_t(rows * cols) * elem);
  if (format == LowpFormat::BF16) {
    dst.scale.clear();
    auto* out = reinterpret_cast<uint16_t*>(dst.bytes.data());
    parallel_for(ops, rows, [&](int64_t r) {
      for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = f32_to_bf16(src[r * ld + c]);
    });
    return;
  }
  const int64_t rg = dst.row_group, groups = (rows + rg - 1) / rg, nkb = dst.col_blocks();
  dst.scale.resize(size_t(groups * nkb));
  parallel_for(ops, groups * nkb, [&](int64_t task) {
    const int64_t g = task / nkb, kb = task % nkb;
    const int64_t r0 = g * rg, r1 = std::min(rows, r0 + rg), c0 = kb * kLowpBlock, c1 = std::min(cols, c0 + kLowpBlock);
    float amax = 0.0f;
    for (int64_t r = r0; r < r1; ++r) amax = std::max(amax, abs_max(src + r * ld + c0, c1 - c0));
    const float s = amax > 0.0f ? amax / kE4M3Max : 1.0f;
    dst.scale[size_t(task)] = s;
    for (int64_t r = r0; r < r1; ++r) encode_row(src + r * ld + c0, c1 - c0, s, dst.bytes.data() + r * cols + c0);
  });
}

void lowp_quantize_transposed(const Ops& ops, LowpFormat format, int64_t row_group, const float* src, int64_t rows,
                              int64_t cols, LowpMatrix& dst) {
  if (format == LowpFormat::E4M3 && row_group != 1 && row_group != kLowpBlock)
    fail("lowp_quantize_transposed: row groups of 1 or {} only, not {}", kLowpBlock, row_group);
  // dst is [cols, rows]; one task per 128 x 128 block of it, transposed through a local tile.
  dst.format = format;
  dst.rows = cols;
  dst.cols = rows;
  dst.row_group = format == LowpFormat::E4M3 ? row_group : 1;
  const size_t elem = format == LowpFormat::E4M3 ? 1 : 2;
  dst.bytes.resize(size_t(rows * cols) * elem);
  const int64_t rb = (dst.rows + kLowpBlock - 1) / kLowpBlock, nkb = dst.col_blocks();
  if (format == LowpFormat::E4M3)
    dst.scale.resize(size_t(((dst.rows + dst.row_group - 1) / dst.row_group) * nkb));
  else
    dst.scale.clear();
  parallel_for(ops, rb * nkb, [&](int64_t task) {
    const int64_t b = task / nkb, kb = task % nkb;
    const int64_t r0 = b * kLowpBlock, r1 = std::min(dst.rows, r0 + kLowpBlock);   // dst rows = src columns
    const int64_t c0 = kb * kLowpBlock, c1 = std::min(dst.cols, c0 + kLowpBlock);  // dst columns = src rows
    const int64_t h = r1 - r0, w = c1 - c0;
    thread_local std::vector<float> tile(kLowpBlock * kLowpBlock);
    float* t = tile.data();
    for (int64_t c = 0; c < w; ++c)
      for (int64_t r = 0; r < h; ++r) t[r * w + c] = src[(c0 + c) * cols + r0 + r];
    if (format == LowpFormat::BF16) {
      auto* out = reinterpret_cast<uint16_t*>(dst.bytes.data());
      for (int64_t r = 0; r < h; ++r)
        for (int64_t c = 0; c < w; ++c) out[(r0 + r) * dst.cols + c0 + c] = f32_to_bf16(t[r * w + c]);
      return;
    }
    const float block_max = dst.row_group == kLowpBlock ? abs_max(t, h * w) : 0.0f;
    for (int64_t r = 0; r < h; ++r) {
      const float amax = dst.row_group == kLowpBlock ? block_max : abs_max(t + r * w, w);
      const float s = amax > 0.0f ? amax / kE4M3Max : 1.0f;
      dst.scale[size_t(((r0 + r) / dst.row_group) * nkb + kb)] = s;
      encode_row(t + r * w, w, s, dst.bytes.data() + (r0 + r) * dst.cols + c0);
    }
  });
}

void lowp_dequantize(const Ops& ops, const LowpMatrix& m, float* dst) {
  parallel_for(ops, m.rows, [&](int64_t r) {
    for (int64_t c = 0; c < m.cols; ++c) {
      const float v = m.format == LowpFormat::E4M3 ? e4m3_to_f32(m.e4m3_row(r)[c]) : bf16_to_f32(m.bf16_row(r)[c]);
      dst[r * m.cols + c] = v * m.scale_at(r, c / kLowpBlock);
    }
  });
}

std::string_view lowp_path_name(LowpPath p) {
  switch (p) {
    case LowpPath::Scalar: return "scalar";
    case LowpPath::Avx2: return "avx2+f16c";
    case LowpPath::Avx512Bf16: return "avx512-bf16";
  }
  return "?";
}

bool lowp_path_supported(LowpPath p) {
  switch (p) {
    case LowpPath::Scalar: return true;
    case LowpPath::Avx2: return cpu::isa_supported(cpu::Isa::Avx2);
    case LowpPath::Avx512Bf16: return cpu::kernel_isa_supported(cpu::KernelIsa::avx512bf16);
  }
  return false;
}

LowpPath lowp_best_path() {
  static const LowpPath path = [] {
    const cpu::Isa cap = cpu::active_isa();
    LowpPath p = LowpPath::Scalar;
    if (cap >= cpu::Isa::Avx2) p = LowpPath::Avx2;
    if (cap >= cpu::Isa::Avx512 && lowp_path_supported(LowpPath::Avx512Bf16)) p = LowpPath::Avx512Bf16;
    std::fprintf(stderr, "fathom: low-precision training GEMMs use the %s path\n", std::string(lowp_path_name(p)).c_str());
    return p;
  }();
  return path;
}

namespace {

float element(const LowpMatrix& m, int64_t r, int64_t c) {
  return m.format == LowpFormat::E4M3 ? e4m3_to_f32(m.e4m3_row(r)[c]) : bf16_to_f32(m.bf16_row(r)[c]);
}

// The reference: P in ascending k (exact products, f32 sums), promoted block by block with one fma.
void gemm_scalar(const Ops& ops, const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc, bool accumulate) {
  const int64_t K = A.cols, nkb = A.col_blocks();
  parallel_for(ops, A.rows, [&](int64_t m) {
    for (int64_t n = 0; n < B.rows; ++n) {
      float acc = 0.0f;
      for (int64_t kb = 0; kb < nkb; ++kb) {
        float p = 0.0f;
        for (int64_t k = kb * kLowpBlock; k < std::min(K, (kb + 1) * kLowpBlock); ++k)
          p += element(A, m, k) * element(B, n, k);
        acc = std::fma(A.scale_at(m, kb) * B.scale_at(n, kb), p, acc);
      }
      float& c = C[m * ldc + n];
      c = accumulate ? c + acc : acc;
    }
  });
}

// ---- AVX2 + F16C: f32 panels, 8-wide FMA ----

// Rows [r0, r1) of m as f32 [r1 - r0, nkb·128], zero-padded, and their scales [r1 - r0, nkb]. E4M3
// is decoded exactly through FP16: the bits S.EEEE.MMM placed as the FP16 S.0EEEE.MMM0000000 are
// the value times 2^-8 for normals and subnormals alike, so the panel holds value · 2^-8 and the
// scales carry the 2^8.
void pack_f32(const LowpMatrix& m, int64_t r0, int64_t r1, float* panel, float* scales) {
  const int64_t K = m.cols, nkb = m.col_blocks(), Kp = nkb * kLowpBlock;
  const bool e4m3 = m.format == LowpFormat::E4M3;
  for (int64_t r = r0; r < r1; ++r) {
    float* dst = panel + (r - r0) * Kp;
    int64_t k = 0;
    if (e4m3) {
      const uint8_t* src = m.e4m3_row(r);
      for (; k + 8 <= K; k += 8) {
        __m128i b;
        std::memcpy(&b, src + k, 8);  // unaligned 8-byte load
        const __m128i w = _mm_cvtepu8_epi16(b);
        const __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(w, _mm_set1_epi16(0x80)), 8),
                                       _mm_slli_epi16(_mm_and_si128(w, _mm_set1_epi16(0x7f)), 7));
        _mm256_storeu_ps(dst + k, _mm256_cvtph_ps(h));
      }
      for (; k < K; ++k) dst[k] = e4m3_to_f32(src[k]) * 0x1p-8f;
    } else {
      const uint16_t* src = m.bf16_row(r);
      for (; k + 8 <= K; k += 8) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k));
        _mm256_storeu_ps(dst + k, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16)));
      }
      for (; k < K; ++k) dst[k] = bf16_to_f32(src[k]);
    }
    std::fill(dst + K, dst + Kp, 0.0f);
    for (int64_t kb = 0; kb < nkb; ++kb) scales[(r - r0) * nkb + kb] = m.scale_at(r, kb) * (e4m3 ? 256.0f : 1.0f);
  }
}

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

// An MI x NJ tile: per block, partial sums P lane-wise, then acc += (sA·sB) · P.
template <int MI, int NJ>
void tile_avx2(const float* A, const float* sa, const float* B, const float* sb, int64_t Kp, int64_t nkb, float* C,
               int64_t ldc, bool accumulate) {
  __m256 acc[MI][NJ];
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t kb = 0; kb < nkb; ++kb) {
    __m256 p[MI][NJ];
    for (int i = 0; i < MI; ++i)
      for (int j = 0; j < NJ; ++j) p[i][j] = _mm256_setzero_ps();
    for (int64_t k = kb * kLowpBlock; k < (kb + 1) * kLowpBlock; k += 8) {
      __m256 b[NJ];
      for (int j = 0; j < NJ; ++j) b[j] = _mm256_loadu_ps(B + j * Kp + k);
      for (int i = 0; i < MI; ++i) {
        const __m256 a = _mm256_loadu_ps(A + i * Kp + k);
        for (int j = 0; j < NJ; ++j) p[i][j] = _mm256_fmadd_ps(a, b[j], p[i][j]);
      }
    }
    for (int i = 0; i < MI; ++i)
      for (int j = 0; j < NJ; ++j)
        acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(sa[i * nkb + kb] * sb[j * nkb + kb]), p[i][j], acc[i][j]);
  }
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) {
      float& c = C[i * ldc + j];
      const float r = hsum(acc[i][j]);
      c = accumulate ? c + r : r;
    }
}

using TileFn = void (*)(const float*, const float*, const float*, const float*, int64_t, int64_t, float*, int64_t, bool);
constexpr int kMI = 3, kNJ = 2;
constexpr TileFn kTiles[kMI][kNJ] = {
    {tile_avx2<1, 1>, tile_avx2<1, 2>},
    {tile_avx2<2, 1>, tile_avx2<2, 2>},
    {tile_avx2<3, 1>, tile_avx2<3, 2>},
};

void gemm_block_avx2(const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc, bool accumulate, int64_t i0,
                     int64_t i1, int64_t j0, int64_t j1) {
  const int64_t nkb = A.col_blocks(), Kp = nkb * kLowpBlock;
  thread_local std::vector<float> pa, pb, sa, sb;  // grow to the largest block once, then reused
  pa.resize(size_t((i1 - i0) * Kp));
  pb.resize(size_t((j1 - j0) * Kp));
  sa.resize(size_t((i1 - i0) * nkb));
  sb.resize(size_t((j1 - j0) * nkb));
  pack_f32(A, i0, i1, pa.data(), sa.data());
  pack_f32(B, j0, j1, pb.data(), sb.data());
  for (int64_t i = i0; i < i1; i += kMI) {
    const int mi = int(std::min<int64_t>(kMI, i1 - i));
    for (int64_t j = j0; j < j1; j += kNJ) {
      const int nj = int(std::min<int64_t>(kNJ, j1 - j));
      kTiles[mi - 1][nj - 1](pa.data() + (i - i0) * Kp, sa.data() + (i - i0) * nkb, pb.data() + (j - j0) * Kp,
                             sb.data() + (j - j0) * nkb, Kp, nkb, C + i * ldc + j, ldc, accumulate);
    }
  }
}

}  // namespace

void lowp_gemm(const Ops& ops, LowpPath path, const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc,
               bool accumulate) {
  if (A.cols != B.cols || A.format != B.format)
    fail("lowp_gemm: operands differ ([{}x{}] {} vs [{}x{}] {})", A.rows, A.cols, int(A.format), B.rows, B.cols,
         int(B.format));
  if (!lowp_path_supported(path)) fail("lowp_gemm: the {} path is not supported by this CPU", lowp_path_name(path));
  const int64_t M = A.rows, N = B.rows;
  if (M <= 0 || N <= 0) return;
  if (path == LowpPath::Scalar) return gemm_scalar(ops, A, B, C, ldc, accumulate);
  // Blocks of 48 x 48 (multiples of both paths' tile shapes): one task packs its rows of A and B.
  constexpr int64_t BM = 48, BN = 48;
  const int64_t mb = (M + BM - 1) / BM, nb = (N + BN - 1) / BN;
  parallel_for(ops, mb * nb, [&](int64_t task) {
    const int64_t i0 = (task / nb) * BM, j0 = (task % nb) * BN;
    const int64_t i1 = std::min(M, i0 + BM), j1 = std::min(N, j0 + BN);
    if (path == LowpPath::Avx512Bf16)
      detail::lowp_gemm_block_avx512bf16(A, B, C, ldc, accumulate, i0, i1, j0, j1);
    else
      gemm_block_avx2(A, B, C, ldc, accumulate, i0, i1, j0, j1);
  });
}

}  // namespace fathom::train
