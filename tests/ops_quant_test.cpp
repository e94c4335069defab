// Q8_0 / Q4_0 round trips: layout, exact cases, and the error budget each format holds on
// Gaussian weights (relative RMS error of dequantize(quantize(w)) against w).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "ops/quant/q4_0.h"
#include "ops/quant/q8_0.h"
#include "ops/reference.h"

namespace fathom::ops::quant {
namespace {

std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 0.02f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

double rel_rms(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

TEST(QuantFormats, RowBytesAndBitsPerWeight) {
  EXPECT_EQ(q8_0_row_bytes(32), 34);
  EXPECT_EQ(q8_0_row_bytes(33), 68);
  EXPECT_EQ(q4_0_row_bytes(32), 18);
  EXPECT_EQ(q4_0_row_bytes(2048), 64 * 18);
  EXPECT_DOUBLE_EQ(8.0 * double(q8_0_row_bytes(4096)) / 4096, 8.5);
  EXPECT_DOUBLE_EQ(8.0 * double(q4_0_row_bytes(4096)) / 4096, 4.5);
  EXPECT_EQ(weight_row_bytes(WFormat::Q8_0, 100), q8_0_row_bytes(100));
  EXPECT_EQ(weight_row_bytes(WFormat::Q4_0, 100), q4_0_row_bytes(100));
}

// Error budgets on N(0, 0.02) weights, measured ~0.50% (Q8_0) and ~9.1% (Q4_0) relative RMS.
TEST(QuantFormats, ErrorBudget) {
  for (int64_t cols : {4096, 1408, 45}) {
    const auto w = gaussian(cols * 8, uint32_t(cols));
    std::vector<float> back(w.size());
    std::vector<uint8_t> q8(size_t(8 * q8_0_row_bytes(cols))), q4(size_t(8 * q4_0_row_bytes(cols)));
    q8_0_quantize(w.data(), 8, cols, q8.data());
    for (int64_t r = 0; r < 8; ++r) q8_0_dequantize_row(q8.data() + r * q8_0_row_bytes(cols), cols, back.data() + r * cols);
    const double e8 = rel_rms(back, w);
    q4_0_quantize(w.data(), 8, cols, q4.data());
    for (int64_t r = 0; r < 8; ++r) q4_0_dequantize_row(q4.data() + r * q4_0_row_bytes(cols), cols, back.data() + r * cols);
    const double e4 = rel_rms(back, w);
    EXPECT_LT(e8, 0.0065) << "cols " << cols;
    EXPECT_LT(e4, 0.105) << "cols " << cols;
    EXPECT_GT(e4, e8);
    if (cols == 4096) std::printf("relative RMS error: Q8_0 %.4f  Q4_0 %.4f\n", e8, e4);
  }
}

// Values already on a block's grid survive exactly; zero blocks stay zero; the block's extreme is exact.
TEST(QuantFormats, ExactCases) {
  std::vector<float> w(64, 0.0f);
  for (int i = 0; i < 32; ++i) w[i] = float(i - 16) * 0.25f;  // amax 4 at i = 0
  // Q8: amax = 4.0 -> d = 4/127 (rounded to f16); the extreme -4 must come back exactly.
  std::vector<uint8_t> q8(size_t(q8_0_row_bytes(64)));
  q8_0_quantize_row(w.data(), 64, q8.data());
  std::vector<float> back(64);
  q8_0_dequantize_row(q8.data(), 64, back.data());
  const float d8 = f16_to_f32(reinterpret_cast<const uint16_t*>(q8.data())[0]);
  EXPECT_NEAR(back[0], -4.0f, d8 * 0.5f + 1e-6f);
  for (int i = 32; i < 64; ++i) EXPECT_EQ(back[i], 0.0f);
  for (int i = 0; i < 32; ++i) EXPECT_LE(std::fabs(back[i] - w[i]), d8 * 0.5f + 1e-6f);
  // Q4: integers -8..7 times 0.5 are exactly representable (d = -4 / -8 = 0.5).
  for (int i = 0; i < 32; ++i) w[i] = float((i % 16) - 8) * 0.5f;
  std::vector<uint8_t> q4(size_t(q4_0_row_bytes(64)));
  q4_0_quantize_row(w.data(), 64, q4.data());
  q4_0_dequantize_row(q4.data(), 64, back.data());
  for (int i = 0; i < 32; ++i) EXPECT_EQ(back[i], w[i]) << i;
  for (int i = 32; i < 64; ++i) EXPECT_EQ(back[i], 0.0f);
}

TEST(QuantFormats, TailBlockIsPadded) {
  const int64_t cols = 45;  // one full block + 13
  const auto w = gaussian(cols, 7, 1.0f);
  std::vector<uint8_t> q8(size_t(q8_0_row_bytes(cols))), q4(size_t(q4_0_row_bytes(cols)));
  q8_0_quantize_row(w.data(), cols, q8.data());
  q4_0_quantize_row(w.data(), cols, q4.data());
  uint8_t q8q[32], q4q[16];
  q8_0_block_bytes(q8.data(), cols, 1, q8q);  // second block
  for (int i = 13; i < 32; ++i) EXPECT_EQ(q8q[i], 128);  // zero pads store q + 128 = 128
  q4_0_block_bytes(q4.data(), cols, 1, q4q);
  for (int j = 13; j < 16; ++j) EXPECT_EQ(q4q[j] & 15, 8);  // zero pads store nibble 8
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q4q[j] >> 4, 8);
  // And dequant_row (the reference every kernel matches) reads them back through WeightMatrix.
  WeightMatrix W{WFormat::Q8_0, 1, cols, q8.data()};
  std::vector<float> back(static_cast<size_t>(cols));
  dequant_row(W, 0, back.data());
  EXPECT_LT(rel_rms(back, w), 0.01);
}

// The stored layout, spelled out independently of block_groups.h: 45 blocks are groups of 16, 16, 8,
// 4 and 1, and in a group of G blocks starting at g0, byte e of block g0 + j (Q8_0: q + 128) is at
// g0 * 32 + ((e / 4) * G + j) * 4 + e % 4. A kernel reading blocks one after another, or a group
// size other than the documented one, reads different bytes.
TEST(QuantFormats, BlockInterleavedLayout) {
  const int64_t nb = 45, cols = nb * 32 - 7;
  const auto w = gaussian(cols, 11, 1.0f);
  std::vector<uint8_t> q8(size_t(q8_0_row_bytes(cols)));
  q8_0_quantize_row(w.data(), cols, q8.data());
  const uint8_t* q = q8.data() + 2 * nb;
  const int64_t firsts[] = {0, 16, 32, 40, 44}, sizes[] = {16, 16, 8, 4, 1};
  int checked = 0;
  for (int gi = 0; gi < 5; ++gi)
    for (int64_t j = 0; j < sizes[gi]; ++j) {
      const int64_t b = firsts[gi] + j;
      const float d = f16_to_f32(reinterpret_cast<const uint16_t*>(q8.data())[b]);
      for (int64_t e = 0; e < 32 && b * 32 + e < cols; ++e) {
        const uint8_t u = q[firsts[gi] * 32 + ((e / 4) * sizes[gi] + j) * 4 + e % 4];
        const float expect = d > 0 ? std::clamp(std::nearbyint(w[size_t(b * 32 + e)] * (1.0f / d)), -127.0f, 127.0f) : 0.0f;
        ASSERT_EQ(int(u) - 128, int(expect)) << "block " << b << " element " << e;
        ++checked;
      }
    }
  EXPECT_EQ(checked, cols);
}

}  // namespace
}  // namespace fathom::ops::quant

