// ops::matmul on every kernel family this CPU has, every weight format, odd shapes and tails,
// against the scalar reference ops::ref::matmul (relative L2 error of Y, tolerance per path as
// stated in ops/matmul.h).
#include "ops/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "cpu/kernel_isa.h"
#include "ops/gemm_int8.h"
#include "ops/quant/q4_0.h"
#include "ops/quant/q8_0.h"
#include "ops/reference.h"

namespace fathom::ops {
namespace {

// A weight matrix with its own storage.
struct OwnedWeight {
  WeightMatrix W;
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
};

OwnedWeight make_weight(WFormat f, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::vector<float> w(size_t(rows * cols));
  for (auto& v : w) v = g(rng);
  OwnedWeight o;
  o.W.format = f;
  o.W.rows = rows;
  o.W.cols = cols;
  o.bytes.resize(size_t(rows * weight_row_bytes(f, cols)));
  switch (f) {
    case WFormat::F32: std::memcpy(o.bytes.data(), w.data(), o.bytes.size()); break;
    case WFormat::F16:
      for (size_t i = 0; i < w.size(); ++i) reinterpret_cast<uint16_t*>(o.bytes.data())[i] = f32_to_f16(w[i]);
      break;
    case WFormat::BF16:
      for (size_t i = 0; i < w.size(); ++i) reinterpret_cast<uint16_t*>(o.bytes.data())[i] = f32_to_bf16(w[i]);
      break;
    case WFormat::F8_E5M2:
      for (size_t i = 0; i < w.size(); ++i) o.bytes[i] = f32_to_e5m2(w[i] * 100.0f);
      break;
    case WFormat::F8_E4M3: {
      // Random e4m3 codes over the whole range (subnormals included, NaN excluded), random block scales.
      std::uniform_int_distribution<int> code(0, 255);
      for (auto& b : o.bytes) {
        do b = uint8_t(code(rng)); while ((b & 0x7f) == 0x7f);
      }
      o.W.block_rows = o.W.block_cols = 128;
      const int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
      std::uniform_real_distribution<float> s(1e-4f, 2e-3f);
      o.scales.resize(size_t(sr * sc));
      for (auto& v : o.scales) v = s(rng);
      o.W.scale_inv = o.scales.data();
      break;
    }
    case WFormat::Q8_0: quant::q8_0_quantize(w.data(), rows, cols, o.bytes.data()); break;
    case WFormat::Q4_0: quant::q4_0_quantize(w.data(), rows, cols, o.bytes.data()); break;
  }
  o.W.data = o.bytes.data();
  return o;
}

double rel_l2(const std::vector<float>& y, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    num += (double(y[i]) - ref[i]) * (double(y[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Q formats run int8 activations at decode on every SIMD path, and at prefill too on AVX-512 (VNNI)
// and, for Q4_0, on AVX2. F8_E4M3 prefill on AVX-512 runs as Q8_0 (weights re-quantized per panel)
// above kFp8GemvSplitMaxTokens tokens.
double tolerance(WFormat f, int64_t n, cpu::Isa isa) {
  const bool q = f == WFormat::Q8_0 || f == WFormat::Q4_0;
  const bool int8_activations = (q && isa != cpu::Isa::Scalar &&
                                 (n <= kGemvMaxTokens || isa >= cpu::Isa::Avx512 || f == WFormat::Q4_0)) ||
                                (f == WFormat::F8_E4M3 && n > kFp8GemvSplitMaxTokens && isa >= cpu::Isa::Avx512);
  return int8_activations ? 1e-2 : 1e-5;
}

std::vector<cpu::Isa> isas() {
  std::vector<cpu::Isa> v;
  for (cpu::Isa i : {cpu::Isa::Scalar, cpu::Isa::Avx2, cpu::Isa::Avx512})
    if (cpu::isa_supported(i)) v.push_back(i);
  return v;
}

class MatmulTest : public ::testing::TestWithParam<WFormat> {};

TEST_P(MatmulTest, MatchesReference) {
  const WFormat f = GetParam();
  cpu::ThreadPool pool(3);  // more threads than this machine's cores: exercises the split
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {1, 1}, {7, 33}, {67, 129}, {130, 300}, {64, 256}, {200, 1000}, {3, 2049}, {70, 4200},
      // odd numbers of full 32-blocks (the last block of a pair-wise kernel runs alone)
      {33, 96}, {5, 160}};
  uint32_t seed = 1;
  double worst[4][2] = {};  // [isa][gemm?]
  for (auto [rows, cols] : shapes) {
    const OwnedWeight o = make_weight(f, rows, cols, seed++);
    for (int64_t n : {1, 3, 8, 17, 50, 64}) {
      std::mt19937 rng(seed++);
      std::normal_distribution<float> g(0.0f, 1.0f);
      std::vector<float> X(size_t(n * cols));
      for (auto& v : X) v = g(rng);
      std::vector<float> ref(size_t(n * rows));
      ref::matmul(o.W, X.data(), n, ref.data());
      for (cpu::Isa isa : isas()) {
        for (cpu::ThreadPool* p : {static_cast<cpu::ThreadPool*>(nullptr), &pool}) {
          std::vector<float> Y(size_t(n * rows), NAN);
          matmul(isa, o.W, X.data(), n, Y.data(), p);
          const double err = rel_l2(Y, ref);
          double& w = worst[int(isa)][n > kGemvMaxTokens];
          w = std::max(w, err);
          EXPECT_LT(err, tolerance(f, n, isa)) << "isa " << cpu::isa_name(isa) << " rows " << rows << " cols "
                                          << cols << " n " << n << (p ? " pool" : "");
        }
      }
    }
  }
  for (cpu::Isa isa : isas())
    std::printf("  %-6s worst relative L2 error: gemv %.2e  gemm %.2e\n", std::string(cpu::isa_name(isa)).c_str(),
                worst[int(isa)][0], worst[int(isa)][1]);
}

std::string format_name(const ::testing::TestParamInfo<WFormat>& info) {
  static const char* const names[] = {"F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "Q8_0", "Q4_0"};
  return names[int(info.param)];
}

INSTANTIATE_TEST_SUITE_P(AllFormats, MatmulTest,
                         ::testing::Values(WFormat::F32, WFormat::F16, WFormat::BF16, WFormat::F8_E4M3,
                                           WFormat::F8_E5M2, WFormat::Q8_0, WFormat::Q4_0),
                         format_name);

// The batched entry: several jobs with different shapes and token counts in one parallel region
// give exactly what separate calls give.
TEST(MatmulBatch, SameAsSeparateCalls) {
  cpu::ThreadPool pool(2);
  const OwnedWeight a = make_weight(WFormat::Q4_0, 150, 256, 11), b = make_weight(WFormat::BF16, 70, 96, 12);
  std::vector<float> Xa(3 * 256), Xb(40 * 96);
  std::mt19937 rng(5);
  std::normal_distribution<float> g;
  for (auto& v : Xa) v = g(rng);
  for (auto& v : Xb) v = g(rng);
  std::vector<float> Ya(3 * 150), Yb(40 * 70), Ya1(3 * 150), Yb1(40 * 70);
  const MatmulJob jobs[] = {{&a.W, Xa.data(), 3, Ya.data()}, {&b.W, Xb.data(), 40, Yb.data()}};
  matmul_batch(jobs, &pool);
  matmul(a.W, Xa.data(), 3, Ya1.data(), nullptr);
  matmul(b.W, Xb.data(), 40, Yb1.data(), nullptr);
  EXPECT_EQ(Ya, Ya1);
  EXPECT_EQ(Yb, Yb1);
}

// F8_E4M3 with scale blocks other than 128x128, rows and columns not multiples of them. On AVX-512
// each block width takes other kernels: 64, the VBMI table GEMV (where the CPU has VBMI) and the
// int8 GEMM (32-blocks inside a scale block); 80, the f16-route GEMV by 64 then 16 columns and the
// f32-panel GEMM; 48, the f16-route GEMV by 16 columns.
TEST(MatmulFp8, OtherBlockShapes) {
  for (int64_t block : {64, 80, 48}) {
    OwnedWeight o = make_weight(WFormat::F8_E4M3, 75, 230, 21);
    o.W.block_rows = o.W.block_cols = block;
    std::mt19937 rng(22);
    std::uniform_real_distribution<float> s(1e-4f, 2e-3f);
    o.scales.assign(size_t(((75 + block - 1) / block) * ((230 + block - 1) / block)), 0.0f);
    for (auto& v : o.scales) v = s(rng);
    o.W.scale_inv = o.scales.data();
    for (int64_t n : {1, 5, 20, 40}) {
      std::vector<float> X(size_t(n * 230));
      std::normal_distribution<float> g;
      for (auto& v : X) v = g(rng);
      std::vector<float> ref(size_t(n * 75));
      ref::matmul(o.W, X.data(), n, ref.data());
      for (cpu::Isa isa : isas()) {
        std::vector<float> Y(size_t(n * 75), NAN);
        matmul(isa, o.W, X.data(), n, Y.data(), nullptr);
        const bool int8 = n > kFp8GemvSplitMaxTokens && isa >= cpu::Isa::Avx512 && block % 32 == 0;
        EXPECT_LT(rel_l2(Y, ref), int8 ? 1e-2 : 1e-5) << "block " << block << " n " << n << " isa "
                                                       << cpu::isa_name(isa);
      }
    }
  }
}

// Every token of an n-token product of W equals its one-token product bit for bit, on every ISA, with
// a pool of 3 (whose row ranges start anywhere).
void expect_batches_equal_one_token_products(const OwnedWeight& o, std::initializer_list<int64_t> ns) {
  const int64_t rows = o.W.rows, cols = o.W.cols;
  cpu::ThreadPool pool(3);
  for (int64_t n : ns) {
    std::mt19937 rng{uint32_t(n)};
    std::normal_distribution<float> g;
    std::vector<float> X(size_t(n * cols));
    for (auto& v : X) v = g(rng);
    for (cpu::Isa isa : isas()) {
      std::vector<float> Y(size_t(n * rows), NAN), y(static_cast<size_t>(rows));
      matmul(isa, o.W, X.data(), n, Y.data(), &pool);
      for (int64_t t = 0; t < n; ++t) {
        matmul(isa, o.W, X.data() + t * cols, 1, y.data(), nullptr);
        ASSERT_EQ(std::memcmp(y.data(), Y.data() + t * rows, y.size() * sizeof(float)), 0)
            << "n " << n << " token " << t << " isa " << cpu::isa_name(isa);
      }
    }
  }
}

// F8_E4M3 batches of up to kFp8GemvSplitMaxTokens tokens (a server's decode batch, an MTP
// verification) give every token exactly its one-token product: greedy output must not depend on
// what else is in the batch. The VBMI GEMV takes rows four, two or one at a time depending on n,
// neighbouring rows below kStripeMinCols columns and from stripes at or above it; 301 rows leave a
// partial group, 1100 columns a partial scale block and a partial 64-column chunk.
TEST(MatmulFp8, SmallBatchesEqualOneTokenProductsBitForBit) {
  expect_batches_equal_one_token_products(make_weight(WFormat::F8_E4M3, 300, 512, 31),
                                          {2, 3, 4, 5, 9, 16, 31, kFp8GemvSplitMaxTokens});
  expect_batches_equal_one_token_products(make_weight(WFormat::F8_E4M3, 301, 1100, 32), {2, 3, 4, 5, 6});
}

// BF16 decode batches (n <= kGemvMaxTokens) too. The AVX-512 GEMV takes rows four or two at a time
// depending on n, neighbouring rows below kStripeMinCols columns and rows from four stripes at or
// above it; 301 rows leave a partial group.
TEST(MatmulBf16, DecodeBatchesEqualOneTokenProductsBitForBit) {
  expect_batches_equal_one_token_products(make_weight(WFormat::BF16, 301, 200, 33), {2, 3, 4, 5, 6, 7, 8});
  expect_batches_equal_one_token_products(make_weight(WFormat::BF16, 301, 1100, 34), {2, 3, 4, 5});
}

// The VBMI conversion of F8_E4M3 rows to Q8_0 blocks for the int8 prefill GEMM (table lookups,
// gemm_fp8_q8_avx512vbmi.cpp) gives exactly the bytes and scales of the f32 route it replaces:
// q = round(127 * w / amax) + 128, d = amax / 127 * scale * 256 per 32-block (w as the f16 route
// decodes it, 2^-8 of the e4m3 value). Every byte value (the NaN code too), partial blocks at the
// row's end, a chunk past the first 32 blocks, scale blocks of 32, 96 and 128 columns.
TEST(MatmulFp8, VbmiPanelConversionMatchesF32Route) {
  if (!cpu::isa_supported(cpu::Isa::Avx512) || !cpu::kernel_isa_supported(cpu::KernelIsa::avx512vbmi))
    GTEST_SKIP() << "no AVX512-VBMI";
  for (int64_t block : {32, 96, 128}) {  // 96: the second chunk starts inside a scale block
    const int64_t rows = 3, cols = 64 * 32 + 45 * 32 + 7;  // chunks of 64 and 46 blocks, the last partial
    OwnedWeight o = make_weight(WFormat::F8_E4M3, rows, cols, 41);
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> code(0, 255);
    for (auto& b : o.bytes) b = uint8_t(code(rng));
    for (int64_t i = 0; i < 64; ++i) o.bytes[size_t(i)] = uint8_t(i % 4 == 0 ? 0x80 : 0);  // zero blocks
    o.W.block_rows = o.W.block_cols = block;
    o.scales.assign(size_t(((rows + block - 1) / block) * ((cols + block - 1) / block)), 0.0f);
    std::uniform_real_distribution<float> s(1e-4f, 2e-3f);
    for (auto& v : o.scales) v = s(rng);
    o.W.scale_inv = o.scales.data();
    const int64_t nb = (cols + 31) / 32, nbc = (cols + block - 1) / block;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b0 = 0; b0 < nb; b0 += 64) {
        const int64_t b1 = std::min(nb, b0 + 64);
        std::vector<uint8_t> q(size_t(64 * 32), 0xAA);
        std::vector<float> d(64, NAN);
        detail::fp8_rows_to_q8_vbmi(o.W, r, b0, b1, q.data(), d.data());
        for (int64_t b = b0; b < b1; ++b) {
          float w[32] = {}, amax = 0.0f;
          for (int64_t j = 0; j < 32 && b * 32 + j < cols; ++j) {
            const uint8_t e = o.bytes[size_t(r * cols + b * 32 + j)];
            w[j] = f16_to_f32(uint16_t((e & 0x80) << 8 | (e & 0x7f) << 7));
            amax = std::max(amax, std::fabs(w[j]));
          }
          const float inv = amax > 0 ? 127.0f / amax : 0.0f;
          const float dw = amax / 127.0f * (o.scales[size_t(r / block * nbc + b * 32 / block)] * 256.0f);
          ASSERT_EQ(d[size_t(b - b0)], dw) << "row " << r << " block " << b;
          for (int64_t j = 0; j < 32; ++j)
            ASSERT_EQ(q[size_t((b - b0) * 32 + j)], uint8_t(128 + int(std::nearbyint(w[j] * inv))))
                << "row " << r << " block " << b << " column " << j << " block_cols " << block;
        }
      }
  }
}

}  // namespace
}  // namespace fathom::ops
