// FATHOM_ASSERT (core/assert.h) and the preconditions the ops kernels check with it at their entry:
// a call that breaks one fails with an AssertionFailure naming the condition, on every ISA this
// machine has, before any output is written.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/assert.h"
#include "cpu/cpu_features.h"
#include "ops/activation.h"
#include "ops/latent_attention.h"
#include "ops/matmul.h"

using namespace fathom;

namespace {

std::vector<cpu::Isa> isas() {
  std::vector<cpu::Isa> v;
  for (cpu::Isa isa : {cpu::Isa::Scalar, cpu::Isa::Avx2, cpu::Isa::Avx512})
    if (cpu::isa_supported(isa)) v.push_back(isa);
  return v;
}

// The message of the AssertionFailure that fn throws ("" if it throws none).
template <typename Fn>
std::string assertion_of(Fn&& fn) {
  try {
    fn();
  } catch (const AssertionFailure& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Assert, NamesTheConditionThePlaceAndTheReason) {
  const int n = 3;
  const std::string m = assertion_of([&] { FATHOM_ASSERT(n < 2, "n is {}", n); });
  EXPECT_NE(m.find("FATHOM_ASSERT(n < 2)"), std::string::npos) << m;
  EXPECT_NE(m.find("ops_preconditions_test.cpp"), std::string::npos) << m;
  EXPECT_NE(m.find("n is 3"), std::string::npos) << m;
  EXPECT_EQ(assertion_of([&] { FATHOM_ASSERT(n == 3); }), "");
  // An AssertionFailure is a fathom::Error: frontends that report errors report it.
  EXPECT_THROW(FATHOM_ASSERT(n == 4), Error);
}

TEST(Preconditions, MatmulRejectsMissingBuffers) {
  std::vector<float> w(4 * 8, 1.0f), x(2 * 8, 1.0f), y(2 * 4, -7.0f);
  ops::WeightMatrix W{ops::WFormat::F32, 4, 8, w.data()};
  for (cpu::Isa isa : isas()) {
    EXPECT_NE(assertion_of([&] { ops::matmul(isa, W, nullptr, 2, y.data(), nullptr); }), "") << cpu::isa_name(isa);
    EXPECT_NE(assertion_of([&] { ops::matmul(isa, W, x.data(), 2, nullptr, nullptr); }), "") << cpu::isa_name(isa);
    EXPECT_NE(assertion_of([&] { ops::matmul(isa, W, x.data(), -1, y.data(), nullptr); }), "") << cpu::isa_name(isa);
    ops::WeightMatrix no_data{ops::WFormat::F32, 4, 8, nullptr};
    EXPECT_NE(assertion_of([&] { ops::matmul(isa, no_data, x.data(), 2, y.data(), nullptr); }), "");
    ops::WeightMatrix fp8{ops::WFormat::F8_E4M3, 4, 8, w.data()};  // no scale_inv
    EXPECT_NE(assertion_of([&] { ops::matmul(isa, fp8, x.data(), 2, y.data(), nullptr); }), "");
    for (float v : y) EXPECT_EQ(v, -7.0f);  // nothing written
    // No tokens: nothing to check, nothing to do.
    EXPECT_EQ(assertion_of([&] { ops::matmul(isa, W, nullptr, 0, nullptr, nullptr); }), "");
  }
}

TEST(Preconditions, ActivationsRejectBadLengthsAndMissingBuffers) {
  std::vector<float> g(5, 1.0f), u(5, 1.0f), y(5, 0.0f);
  for (cpu::Isa isa : isas()) {
    EXPECT_NE(assertion_of([&] { ops::silu_mul(isa, g.data(), u.data(), -1, y.data()); }), "");
    EXPECT_NE(assertion_of([&] { ops::silu_mul(isa, g.data(), nullptr, 5, y.data()); }), "");
    EXPECT_NE(assertion_of([&] { ops::softmax(isa, nullptr, 5); }), "");
    EXPECT_NE(assertion_of([&] { ops::softmax(isa, y.data(), -2); }), "");
  }
}

TEST(Preconditions, LatentAttentionRejectsBadShapesAndMissingBuffers) {
  std::vector<float> q(4, 1.0f), c(8, 1.0f), o(2, 0.0f);
  for (cpu::Isa isa : isas()) {
    const ops::LatentAttention ok{q.data(), 1, c.data(), 4, 2, 4, 2, 1.0f, o.data()};
    EXPECT_EQ(assertion_of([&] { ops::latent_attention(isa, ok, nullptr); }), "");
    ops::LatentAttention bad = ok;
    bad.dv = 5;  // dv > dk
    EXPECT_NE(assertion_of([&] { ops::latent_attention(isa, bad, nullptr); }).find("dv <= a.dk"), std::string::npos);
    bad = ok;
    bad.cache = nullptr;
    EXPECT_NE(assertion_of([&] { ops::latent_attention(isa, bad, nullptr); }), "");
    bad = ok;
    bad.out = nullptr;
    EXPECT_NE(assertion_of([&] { ops::latent_attention(isa, bad, nullptr); }), "");
    const ops::LatentAttentionQ8 no_cache{q.data(), 1, {}, 2, 1.0f, o.data()};
    EXPECT_NE(assertion_of([&] { ops::latent_attention(isa, no_cache, nullptr); }), "");
  }
}
