// ops::latent_attention on every kernel family this CPU has, one thread and a pool, odd head
// counts, row lengths and position counts (tails of every tile and block), against a plain two-pass
// softmax computed in double precision here.
#include "ops/latent_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace fathom::ops {
namespace {

std::vector<double> expected(const LatentAttention& a) {
  std::vector<double> out(size_t(a.heads * a.dv), 0.0);
  std::vector<double> s(size_t(a.positions));
  for (int64_t h = 0; h < a.heads; ++h) {
    double mx = -1e300;
    for (int64_t p = 0; p < a.positions; ++p) {
      double d = 0;
      for (int64_t i = 0; i < a.dk; ++i) d += double(a.q[h * a.dk + i]) * a.cache[p * a.stride + i];
      s[p] = d * a.scale;
      mx = std::max(mx, s[p]);
    }
    double sum = 0;
    for (auto& v : s) sum += (v = std::exp(v - mx));
    for (int64_t p = 0; p < a.positions; ++p)
      for (int64_t i = 0; i < a.dv; ++i) out[h * a.dv + i] += s[p] / sum * a.cache[p * a.stride + i];
  }
  return out;
}

std::vector<cpu::Isa> isas() {
  std::vector<cpu::Isa> v;
  for (cpu::Isa i : {cpu::Isa::Scalar, cpu::Isa::Avx2, cpu::Isa::Avx512})
    if (cpu::isa_supported(i)) v.push_back(i);
  return v;
}

struct Shape {
  int64_t heads, positions, dk, dv, pad;
  float spread;  // standard deviation of the query: large values make peaked softmaxes
};

TEST(OpsLatentAttention, MatchesTwoPassSoftmaxOnEveryPath) {
  const Shape shapes[] = {
      {16, 1, 576, 512, 0, 1.0f},    {16, 2, 576, 512, 0, 1.0f},  {16, 777, 576, 512, 0, 1.0f},
      {16, 1500, 576, 512, 0, 8.0f}, {5, 65, 48, 32, 3, 2.0f},    {3, 300, 21, 13, 0, 4.0f},
      {1, 64, 80, 64, 1, 1.0f},      {9, 513, 40, 17, 7, 30.0f},  {2, 129, 16, 16, 0, 1.0f},
      {7, 4, 33, 33, 0, 1.0f},
  };
  cpu::ThreadPool pool(2);
  std::mt19937 rng(7);
  for (const Shape& sh : shapes) {
    std::normal_distribution<float> g(0.0f, 1.0f);
    const int64_t stride = sh.dk + sh.pad;
    std::vector<float> q(size_t(sh.heads * sh.dk)), cache(size_t(sh.positions * stride)),
        out(size_t(sh.heads * sh.dv));
    for (auto& v : q) v = g(rng) * sh.spread;
    for (auto& v : cache) v = g(rng);
    LatentAttention a{q.data(), sh.heads, cache.data(), stride, sh.positions, sh.dk, sh.dv,
                      1.0f / std::sqrt(float(sh.dk)), out.data()};
    const std::vector<double> want = expected(a);
    for (cpu::Isa isa : isas())
      for (cpu::ThreadPool* p : {static_cast<cpu::ThreadPool*>(nullptr), &pool}) {
        std::fill(out.begin(), out.end(), 1e30f);
        latent_attention(isa, a, p);
        double err = 0, ref = 0;
        for (size_t i = 0; i < out.size(); ++i) {
          ASSERT_TRUE(std::isfinite(out[i])) << cpu::isa_name(isa) << " index " << i;
          err += (out[i] - want[i]) * (out[i] - want[i]);
          ref += want[i] * want[i];
        }
        EXPECT_LT(std::sqrt(err / ref), 1e-5)
            << cpu::isa_name(isa) << (p ? " pool" : " 1 thread") << " heads " << sh.heads << " positions "
            << sh.positions << " dk " << sh.dk << " dv " << sh.dv;
      }
  }
}

// Several consecutive tokens in one call (queries > 1, a speculative verify) give each token exactly
// what a call with it alone gives, on every path, one thread and a pool (which splits long contexts
// and then calls per token): hidden rows at block boundaries (64 rows) and in whole hidden blocks,
// 4 heads per token (several tokens share a vector) and 12 (a token's heads span two).
TEST(OpsLatentAttention, StackedTokensEqualOneTokenCallsBitForBit) {
  struct Case {
    int64_t heads_per_token, tokens, positions;
  };
  const Case cases[] = {{4, 2, 1 + 1}, {4, 2, 65}, {4, 3, 64}, {4, 4, 130}, {12, 2, 129}, {4, 8, 200}, {4, 2, 600}};
  cpu::ThreadPool pool(2);
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (const Case& c : cases) {
    const int64_t dk = 80, dv = 64, H = c.heads_per_token * c.tokens;
    std::vector<float> q(size_t(H * dk)), cache(size_t(c.positions * dk)), out(size_t(H * dv)),
        one(size_t(c.heads_per_token * dv));
    for (auto& v : q) v = g(rng) * 3.0f;
    for (auto& v : cache) v = g(rng);
    for (cpu::Isa isa : isas())
      for (cpu::ThreadPool* p : {static_cast<cpu::ThreadPool*>(nullptr), &pool}) {
        latent_attention(isa, {q.data(), H, cache.data(), dk, c.positions, dk, dv, 0.1f, out.data(), c.tokens}, p);
        for (int64_t j = 0; j < c.tokens; ++j) {
          const int64_t visible = c.positions - (c.tokens - 1 - j);
          latent_attention(isa,
                           {q.data() + j * c.heads_per_token * dk, c.heads_per_token, cache.data(), dk, visible, dk,
                            dv, 0.1f, one.data()},
                           p);
          ASSERT_EQ(std::memcmp(one.data(), out.data() + j * c.heads_per_token * dv, one.size() * sizeof(float)), 0)
              << cpu::isa_name(isa) << (p ? " pool" : " 1 thread") << " tokens " << c.tokens << " positions "
              << c.positions << " token " << j;
        }
      }
  }
}

TEST(OpsLatentAttention, RejectsBadShapes) {
  float q[4] = {}, c[4] = {}, o[4] = {};
  EXPECT_THROW(latent_attention({q, 1, c, 2, 0, 2, 2, 1.0f, o}, nullptr), std::exception);  // no positions
  EXPECT_THROW(latent_attention({q, 1, c, 2, 1, 2, 3, 1.0f, o}, nullptr), std::exception);  // dv > dk
  EXPECT_THROW(latent_attention({q, 1, c, 1, 1, 2, 2, 1.0f, o}, nullptr), std::exception);  // stride < dk
}

}  // namespace
}  // namespace fathom::ops
