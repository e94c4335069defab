// ops::latent_attention on every kernel family this CPU has, one thread and a pool, odd head
// counts, row lengths and position counts (tails of every tile and block), against a plain two-pass
// softmax computed in double precision here.
#include "ops/latent_attention.h"

#include <gtest/gtest.h>

#include <cmath>
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

TEST(OpsLatentAttention, RejectsBadShapes) {
  float q[4] = {}, c[4] = {}, o[4] = {};
  EXPECT_THROW(latent_attention({q, 1, c, 2, 0, 2, 2, 1.0f, o}, nullptr), std::exception);  // no positions
  EXPECT_THROW(latent_attention({q, 1, c, 2, 1, 2, 3, 1.0f, o}, nullptr), std::exception);  // dv > dk
  EXPECT_THROW(latent_attention({q, 1, c, 1, 1, 2, 2, 1.0f, o}, nullptr), std::exception);  // stride < dk
}

}  // namespace
}  // namespace fathom::ops
