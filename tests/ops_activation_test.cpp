// The vectorized activations against the scalar reference (ops::ref), on every ISA this CPU has,
// with odd lengths (tails), extreme arguments and special values.
#include "ops/activation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ops/reference.h"

namespace fathom::ops {
namespace {

std::vector<cpu::Isa> isas() {
  std::vector<cpu::Isa> v;
  for (cpu::Isa i : {cpu::Isa::Scalar, cpu::Isa::Avx2, cpu::Isa::Avx512})
    if (cpu::isa_supported(i)) v.push_back(i);
  return v;
}

// Relative to the value, with an absolute floor for results near zero.
void expect_close(float want, float got, float rel, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what;
    return;
  }
  if (std::isinf(want)) {
    EXPECT_EQ(want, got) << what;
    return;
  }
  EXPECT_NEAR(got, want, rel * std::fabs(want) + 1e-30f) << what;
}

TEST(Activation, SiluMulMatchesReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 4.0f);
  for (cpu::Isa isa : isas()) {
    for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 33, 100, 1031}) {
      const size_t sz = static_cast<size_t>(n);
      std::vector<float> g(sz), u(sz), want(sz), got(sz);
      for (auto& v : g) v = nd(rng);
      for (auto& v : u) v = nd(rng);
      // Extreme gates where present: large positive (silu = x), large negative (silu -> -0),
      // around the f32 exp overflow and underflow thresholds, and zero.
      const float edge[] = {0.0f, -0.0f, 30.0f, -30.0f, 88.0f, -88.0f, 88.8f, -88.8f, 90.0f, -90.0f, -104.5f, 200.0f};
      for (size_t i = 0; i < std::size(edge) && i < size_t(n); ++i) g[size_t(n) - 1 - i] = edge[i];
      ref::silu_mul(g.data(), u.data(), n, want.data());
      silu_mul(isa, g.data(), u.data(), n, got.data());
      for (int64_t i = 0; i < n; ++i)
        expect_close(want[size_t(i)], got[size_t(i)], 1e-6f,
                     std::string(cpu::isa_name(isa)) + " n=" + std::to_string(n) + " i=" + std::to_string(i) +
                         " gate=" + std::to_string(g[size_t(i)]));
      // In place (y aliases gate), as the experts call it.
      silu_mul(isa, g.data(), u.data(), n, g.data());
      for (int64_t i = 0; i < n; ++i) expect_close(want[size_t(i)], g[size_t(i)], 1e-6f, "in place");
    }
  }
}

TEST(Activation, SoftmaxMatchesReference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 6.0f);
  for (cpu::Isa isa : isas()) {
    for (int64_t n : {1, 2, 7, 16, 17, 31, 255, 256, 257, 4099}) {
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = nd(rng);
      if (n > 3) {
        x[1] = -std::numeric_limits<float>::infinity();  // a masked position
        x[2] = x[0] - 120.0f;                            // underflows to 0 after the max is taken
      }
      std::vector<float> want = x, got = x;
      ref::softmax(want.data(), n);
      softmax(isa, got.data(), n);
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        sum += got[size_t(i)];
        EXPECT_NEAR(got[size_t(i)], want[size_t(i)], 1e-6f * want[size_t(i)] + 1e-12f)
            << cpu::isa_name(isa) << " n=" << n << " i=" << i;
      }
      EXPECT_NEAR(sum, 1.0, 1e-5) << cpu::isa_name(isa) << " n=" << n;
    }
  }
}

TEST(Activation, UnsupportedIsaIsAnError) {
  for (cpu::Isa isa : {cpu::Isa::Avx2, cpu::Isa::Avx512}) {
    if (cpu::isa_supported(isa)) continue;
    float g = 1, u = 1, y = 0;
    EXPECT_ANY_THROW(silu_mul(isa, &g, &u, 1, &y));
    EXPECT_ANY_THROW(softmax(isa, &g, 1));
  }
}

}  // namespace
}  // namespace fathom::ops
