// Quantization to E4M3 / BF16 tiles, the scalar reference GEMM, the AVX2 + F16C instance of
// lowp_gemm_kernel.h and the run-time choice of path (lowp_gemm.h). The AVX-512 instance is
// lowp_gemm_avx512.cpp.
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
#include "training/lowp_gemm_kernel.h"

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

// out[i] = e4m3_encode(x[i] / s[i]) (s[i] = s[0] for all i when !per_elem), eight at a time with the
// same arithmetic (the division in f32, then e4m3_encode's bit rounding; values past 448 are
// clamped to it, which encodes to 0x7e).
void encode_row(const float* x, int64_t n, const float* s, bool per_elem, uint8_t* out) {
  const __m256 max = _mm256_set1_ps(kE4M3Max), min_normal = _mm256_set1_ps(0x1p-6f);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 vs = per_elem ? _mm256_loadu_ps(s + i) : _mm256_set1_ps(s[0]);
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
  for (; i < n; ++i) out[i] = e4m3_encode(x[i] / s[per_elem ? i : 0]);
}

float tile_scale(float amax) { return amax > 0.0f ? amax / kE4M3Max : 1.0f; }

// AVX2 + F16C lanes for lowp_gemm_kernel.h.
struct Avx2 {
  using vec = __m256;
  static constexpr int64_t W = 8, MR = 3;
  static vec zero() { return _mm256_setzero_ps(); }
  static vec set1(float x) { return _mm256_set1_ps(x); }
  static vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, vec v) { _mm256_storeu_ps(p, v); }
  static vec fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static vec mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
  static vec load_partial(const float* p, int64_t n) {
    if (n == W) return load(p);
    alignas(32) float t[W] = {};
    std::copy(p, p + n, t);
    return load(t);
  }
  static void store_partial(float* p, vec v, int64_t n) {
    if (n == W) return store(p, v);
    alignas(32) float t[W];
    store(t, v);
    std::copy(t, t + n, p);
  }
  // E4M3 S.EEEE.MMM placed as the FP16 S.0EEEE.MMM0000000 is the value times 2^-8, normals and
  // subnormals alike; times 2^8 is exact.
  static vec e4m3(const uint8_t* src) {
    __m128i b;
    std::memcpy(&b, src, 8);
    const __m128i w = _mm_cvtepu8_epi16(b);
    const __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(w, _mm_set1_epi16(0x80)), 8),
                                   _mm_slli_epi16(_mm_and_si128(w, _mm_set1_epi16(0x7f)), 7));
    return _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(256.0f));
  }
  static vec bf16(const uint16_t* src) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16));
  }
};

}  // namespace

void lowp_quantize(const Ops& all, LowpFormat format, int64_t row_group, const float* src, int64_t rows, int64_t cols,
                   int64_t ld, LowpMatrix& dst, int64_t col_group) {
  const Ops ops = serial_below(all, rows * cols, kLowpSerialElems);
  dst.format = format;
  dst.rows = rows;
  dst.cols = cols;
  dst.row_group = format == LowpFormat::E4M3 ? std::max<int64_t>(row_group, 1) : 1;
  dst.col_group = format == LowpFormat::E4M3 ? col_group : kLowpBlock;
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
  if (col_group != kLowpBlock && !(col_group == 1 && row_group == kLowpBlock))
    fail("lowp_quantize: tiles of {}x{} are not supported (1x128, 128x128 or 128x1)", row_group, col_group);
  const int64_t rg = dst.row_group, groups = (rows + rg - 1) / rg, nkb = (cols + kLowpBlock - 1) / kLowpBlock;
  dst.scale.resize(size_t(groups * dst.col_tiles()));
  parallel_for(ops, groups * nkb, [&](int64_t task) {
    const int64_t g = task / nkb, kb = task % nkb;
    const int64_t r0 = g * rg, r1 = std::min(rows, r0 + rg), c0 = kb * kLowpBlock, c1 = std::min(cols, c0 + kLowpBlock);
    float* sc = dst.scale.data() + g * dst.col_tiles() + c0 / col_group;
    if (col_group == 1) {  // one scale per column of the row group: column-wise max, then per-lane division
      std::fill(sc, sc + (c1 - c0), 0.0f);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) sc[c - c0] = std::max(sc[c - c0], std::fabs(src[r * ld + c]));
      for (int64_t c = c0; c < c1; ++c) sc[c - c0] = tile_scale(sc[c - c0]);
    } else {
      float amax = 0.0f;
      for (int64_t r = r0; r < r1; ++r) amax = std::max(amax, abs_max(src + r * ld + c0, c1 - c0));
      sc[0] = tile_scale(amax);
    }
    for (int64_t r = r0; r < r1; ++r)
      encode_row(src + r * ld + c0, c1 - c0, sc, col_group == 1, dst.bytes.data() + r * cols + c0);
  });
}

void lowp_quantize_transposed(const Ops& all, LowpFormat format, int64_t row_group, const float* src, int64_t rows,
                              int64_t cols, LowpMatrix& dst) {
  const Ops ops = serial_below(all, rows * cols, kLowpSerialElems);
  if (format == LowpFormat::E4M3 && row_group != 1 && row_group != kLowpBlock)
    fail("lowp_quantize_transposed: row groups of 1 or {} only, not {}", kLowpBlock, row_group);
  // dst is [cols, rows]; one task per 128 x 128 block of it, transposed through a local tile.
  dst.format = format;
  dst.rows = cols;
  dst.cols = rows;
  dst.row_group = format == LowpFormat::E4M3 ? row_group : 1;
  dst.col_group = kLowpBlock;
  const size_t elem = format == LowpFormat::E4M3 ? 1 : 2;
  dst.bytes.resize(size_t(rows * cols) * elem);
  const int64_t rb = (dst.rows + kLowpBlock - 1) / kLowpBlock, nkb = dst.col_tiles();
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
      const float s = tile_scale(amax);
      dst.scale[size_t(((r0 + r) / dst.row_group) * nkb + kb)] = s;
      encode_row(t + r * w, w, &s, false, dst.bytes.data() + (r0 + r) * dst.cols + c0);
    }
  });
}

void lowp_transpose(const Ops& all, const LowpMatrix& m, LowpMatrix& dst) {
  const bool e4m3 = m.format == LowpFormat::E4M3;
  if (e4m3 && (m.row_group != kLowpBlock || m.col_group != kLowpBlock))
    fail("lowp_transpose: tiles of {}x{} (128x128 only)", m.row_group, m.col_group);
  const Ops ops = serial_below(all, m.rows * m.cols, kLowpSerialElems);
  dst.format = m.format;
  dst.rows = m.cols;
  dst.cols = m.rows;
  dst.row_group = m.row_group;
  dst.col_group = m.col_group;
  dst.bytes.resize(m.bytes.size());
  const int64_t rb = (m.rows + kLowpBlock - 1) / kLowpBlock, cb = (m.cols + kLowpBlock - 1) / kLowpBlock;
  if (e4m3) {
    dst.scale.resize(m.scale.size());
    for (int64_t i = 0; i < rb; ++i)
      for (int64_t j = 0; j < cb; ++j) dst.scale[size_t(j * rb + i)] = m.scale[size_t(i * cb + j)];
  } else {
    dst.scale.clear();
  }
  // One task per 128-row band of dst (a 128-column band of m), in 16x16 tiles for the caches.
  auto transpose = [&](const auto* in, auto* out) {
    parallel_for(ops, cb, [&](int64_t j) {
      const int64_t c0 = j * kLowpBlock, c1 = std::min(m.cols, c0 + kLowpBlock);
      for (int64_t r0 = 0; r0 < m.rows; r0 += 16)
        for (int64_t cc = c0; cc < c1; cc += 16) {
          const int64_t r1 = std::min(m.rows, r0 + 16), cc1 = std::min(c1, cc + 16);
          for (int64_t c = cc; c < cc1; ++c)
            for (int64_t r = r0; r < r1; ++r) out[c * m.rows + r] = in[r * m.cols + c];
        }
    });
  };
  if (e4m3)
    transpose(m.bytes.data(), dst.bytes.data());
  else
    transpose(reinterpret_cast<const uint16_t*>(m.bytes.data()), reinterpret_cast<uint16_t*>(dst.bytes.data()));
}

void lowp_dequantize(const Ops& all, const LowpMatrix& m, float* dst) {
  const Ops ops = serial_below(all, m.rows * m.cols, kLowpSerialElems);
  parallel_for(ops, m.rows, [&](int64_t r) {
    float* out = dst + r * m.cols;
    for (int64_t c0 = 0; c0 < m.cols; c0 += kLowpBlock) {  // a 1x128 / 128x128 tile row shares one scale
      const int64_t c1 = std::min(m.cols, c0 + kLowpBlock);
      int64_t c = c0;
      if (m.col_group == kLowpBlock) {
        const __m256 s = _mm256_set1_ps(m.scale_of(r, c0));
        for (; c + 8 <= c1; c += 8)
          Avx2::store(out + c, _mm256_mul_ps(m.format == LowpFormat::E4M3 ? Avx2::e4m3(m.e4m3_row(r) + c)
                                                                          : Avx2::bf16(m.bf16_row(r) + c), s));
      }
      for (; c < c1; ++c) {
        const float v = m.format == LowpFormat::E4M3 ? e4m3_to_f32(m.e4m3_row(r)[c]) : bf16_to_f32(m.bf16_row(r)[c]);
        out[c] = v * m.scale_of(r, c);
      }
    }
  });
}

std::string_view lowp_path_name(LowpPath p) {
  switch (p) {
    case LowpPath::Scalar: return "scalar";
    case LowpPath::Avx2: return "avx2+f16c";
    case LowpPath::Avx512: return "avx512";
  }
  return "?";
}

bool lowp_path_supported(LowpPath p) {
  switch (p) {
    case LowpPath::Scalar: return true;
    case LowpPath::Avx2: return cpu::isa_supported(cpu::Isa::Avx2);
    case LowpPath::Avx512: return cpu::kernel_isa_supported(cpu::KernelIsa::avx512);
  }
  return false;
}

LowpPath lowp_best_path() {
  static const LowpPath path = [] {
    const cpu::Isa cap = cpu::active_isa();
    LowpPath p = LowpPath::Scalar;
    if (cap >= cpu::Isa::Avx2) p = LowpPath::Avx2;
    if (cap >= cpu::Isa::Avx512 && lowp_path_supported(LowpPath::Avx512)) p = LowpPath::Avx512;
    std::fprintf(stderr, "fathom: low-precision training GEMMs use the %s path\n", std::string(lowp_path_name(p)).c_str());
    return p;
  }();
  return path;
}

namespace {

float element(const LowpMatrix& m, int64_t r, int64_t c) {
  return m.format == LowpFormat::E4M3 ? e4m3_to_f32(m.e4m3_row(r)[c]) : bf16_to_f32(m.bf16_row(r)[c]);
}

// The reference: P in ascending k (exact products, f32 sums), promoted block by block with one fma
// into an accumulator that starts at C (accumulate) or 0.
void gemm_scalar(const Ops& ops, const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc, bool accumulate) {
  const int64_t K = A.cols, nkb = (K + kLowpBlock - 1) / kLowpBlock;
  parallel_for(ops, A.rows, [&](int64_t m) {
    for (int64_t n = 0; n < B.cols; ++n) {
      float acc = accumulate ? C[m * ldc + n] : 0.0f;
      for (int64_t kb = 0; kb < nkb; ++kb) {
        float p = 0.0f;
        for (int64_t k = kb * kLowpBlock; k < std::min(K, (kb + 1) * kLowpBlock); ++k)
          p = std::fma(element(A, m, k), element(B, k, n), p);  // the product is exact: fma or not, one rounding
        acc = std::fma(A.scale_of(m, kb * kLowpBlock) * B.scale_of(kb * kLowpBlock, n), p, acc);
      }
      C[m * ldc + n] = acc;
    }
  });
}


}  // namespace

void lowp_gemm(const Ops& ops, LowpPath path, const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc,
               bool accumulate) {
  if (A.cols != B.rows || A.format != B.format)
    fail("lowp_gemm: operands differ ([{}x{}] {} vs [{}x{}] {})", A.rows, A.cols, int(A.format), B.rows, B.cols,
         int(B.format));
  if (A.format == LowpFormat::E4M3 && (A.col_group != kLowpBlock || B.row_group != kLowpBlock))
    fail("lowp_gemm: E4M3 operands need 128-element tiles along K (A tiles {}x{}, B tiles {}x{})", A.row_group,
         A.col_group, B.row_group, B.col_group);
  if (!lowp_path_supported(path)) fail("lowp_gemm: the {} path is not supported by this CPU", lowp_path_name(path));
  if (A.rows <= 0 || B.cols <= 0) return;
  if (A.cols <= 0) {  // an empty reduction: C (+)= 0
    if (!accumulate)
      for (int64_t m = 0; m < A.rows; ++m) std::fill(C + m * ldc, C + m * ldc + B.cols, 0.0f);
    return;
  }
  switch (path) {
    case LowpPath::Scalar: return gemm_scalar(ops, A, B, C, ldc, accumulate);
    case LowpPath::Avx2: return lowp_kernel::gemm<Avx2>(ops, A, B, C, ldc, accumulate);
    case LowpPath::Avx512: return detail::lowp_gemm_avx512(ops, A, B, C, ldc, accumulate);
  }
}

}  // namespace fathom::train
