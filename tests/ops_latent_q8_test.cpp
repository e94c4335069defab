// The 8-bit latent cache format (ops/quant/latent_q8.h) and ops::latent_attention over it, on every
// kernel family this CPU has, against a two-pass softmax in double precision over the dequantized
// rows (what every path must compute; the int8 kernel within its stated tolerance).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "ops/latent_attention.h"
#include "ops/quant/latent_q8.h"

namespace fathom::ops {
namespace {

// One layer of Q8 rows with its own storage.
struct Q8Cache {
  LatentQ8Layout layout;
  std::vector<uint8_t> data;
  std::vector<float> sl, sr;
  Q8Cache(int64_t rows, int64_t rank, int64_t rope)
      : layout(rank, rope), data(size_t(layout.bytes(rows) + 64)), sl(size_t(LatentQ8Layout::padded_rows(rows))),
        sr(sl.size()) {}
  uint8_t* aligned() {  // the kernel's loads need 64-byte alignment, as the cache's huge pages give
    auto p = reinterpret_cast<uintptr_t>(data.data());
    return data.data() + ((64 - p % 64) % 64);
  }
  void store(int64_t s, const float* row) { latent_q8_store_row(layout, aligned(), sl.data(), sr.data(), s, row); }
  LatentQ8Rows rows() { return {aligned(), sl.data(), sr.data(), layout}; }
};

TEST(LatentQ8, RoundTripWithinHalfAStepPerPart) {
  const int64_t rank = 40, rope = 7, rows = 35;
  Q8Cache c(rows, rank, rope);
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(size_t(rows * (rank + rope))), back(size_t(rank + rope));
  for (auto& v : x) v = g(rng);
  for (int64_t i = 0; i < rank + rope; ++i) x[size_t(5 * (rank + rope) + i)] = 0.0f;  // an all-zero row
  x[size_t(9 * (rank + rope) + 3)] = 100.0f;                                           // an outlier
  for (int64_t s = 0; s < rows; ++s) c.store(s, x.data() + s * (rank + rope));
  for (int64_t s = 0; s < rows; ++s) {
    const float* r = x.data() + s * (rank + rope);
    latent_q8_load_row(c.rows(), s, back.data());
    float amax_l = 0, amax_r = 0;
    for (int64_t i = 0; i < rank; ++i) amax_l = std::max(amax_l, std::fabs(r[i]));
    for (int64_t i = 0; i < rope; ++i) amax_r = std::max(amax_r, std::fabs(r[rank + i]));
    EXPECT_FLOAT_EQ(c.sl[size_t(s)], amax_l / 127.0f);
    EXPECT_FLOAT_EQ(c.sr[size_t(s)], amax_r / 127.0f);
    for (int64_t i = 0; i < rank + rope; ++i) {
      const float step = i < rank ? amax_l / 127.0f : amax_r / 127.0f;
      EXPECT_LE(std::fabs(back[size_t(i)] - r[i]), 0.5f * step * 1.0001f) << "row " << s << " col " << i;
    }
  }
  // The layout itself: row 17, column 5 (group 1, quad 1, lane 1, byte 1); pads hold 128 (zero).
  const float v = x[size_t(17 * (rank + rope) + 5)];
  const int expect = int(std::nearbyint(v / c.sl[17])) + 128;
  EXPECT_EQ(int(c.rows().data[1 * c.layout.group_bytes() + 1 * 64 + 1 * 4 + 1]), expect);
  EXPECT_EQ(c.layout.rank_p, 48);
  EXPECT_EQ(c.layout.rope_p, 8);
  EXPECT_EQ(int(c.rows().data[(40 / 4) * 64 + 2 * 4 + 0]), 128);  // row 2, column 40: latent padding
  EXPECT_EQ(int(c.rows().data[(48 / 4 + 1) * 64 + 2 * 4 + 3]), 128);  // row 2, rope column 7: padding
}

std::vector<double> expected(const std::vector<float>& q, int64_t heads, const std::vector<float>& rows, int64_t positions,
                             int64_t dk, int64_t dv, float scale) {
  std::vector<double> out(size_t(heads * dv), 0.0);
  std::vector<double> s(static_cast<size_t>(positions));
  for (int64_t h = 0; h < heads; ++h) {
    double mx = -1e300;
    for (int64_t p = 0; p < positions; ++p) {
      double d = 0;
      for (int64_t i = 0; i < dk; ++i) d += double(q[size_t(h * dk + i)]) * rows[size_t(p * dk + i)];
      s[size_t(p)] = d * scale;
      mx = std::max(mx, s[size_t(p)]);
    }
    double sum = 0;
    for (auto& v : s) sum += (v = std::exp(v - mx));
    for (int64_t p = 0; p < positions; ++p)
      for (int64_t i = 0; i < dv; ++i) out[size_t(h * dv + i)] += s[size_t(p)] / sum * rows[size_t(p * dk + i)];
  }
  return out;
}

double rel_l2(const std::vector<float>& got, const std::vector<double>& want) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    err += (got[i] - want[i]) * (got[i] - want[i]);
    ref += want[i] * want[i];
  }
  return std::sqrt(err / ref);
}

struct Shape {
  int64_t heads, positions, rank, rope;
  float spread;  // standard deviation of the query: large values make peaked softmaxes
};

TEST(LatentQ8, AttentionMatchesTheDequantizedCacheOnEveryPath) {
  const Shape shapes[] = {
      {16, 1, 512, 64, 1.0f},  {16, 2, 512, 64, 1.0f}, {16, 777, 512, 64, 1.0f}, {16, 1500, 512, 64, 3.0f},
      {5, 65, 48, 16, 2.0f},   {3, 300, 21, 6, 2.0f},  {17, 513, 40, 7, 1.0f},   {2, 129, 16, 4, 1.0f},
      {7, 4, 33, 3, 1.0f},     {128, 200, 512, 64, 1.0f},
  };
  cpu::ThreadPool pool(2);
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (const Shape& sh : shapes) {
    const int64_t dk = sh.rank + sh.rope;
    Q8Cache c(sh.positions, sh.rank, sh.rope);
    std::vector<float> x(size_t(sh.positions * dk)), deq(x.size()), q(size_t(sh.heads * dk)),
        out(size_t(sh.heads * sh.rank));
    for (auto& v : x) v = g(rng);
    for (auto& v : q) v = g(rng) * sh.spread;
    for (int64_t s = 0; s < sh.positions; ++s) {
      c.store(s, x.data() + s * dk);
      latent_q8_load_row(c.rows(), s, deq.data() + s * dk);
    }
    const float scale = 1.0f / std::sqrt(float(dk));
    const std::vector<double> want = expected(q, sh.heads, deq, sh.positions, dk, sh.rank, scale);
    const std::vector<double> exact = expected(q, sh.heads, x, sh.positions, dk, sh.rank, scale);
    const LatentAttentionQ8 a{q.data(), sh.heads, c.rows(), sh.positions, scale, out.data()};
    for (cpu::Isa isa : {cpu::Isa::Scalar, cpu::Isa::Avx2, cpu::Isa::Avx512}) {
      if (!cpu::isa_supported(isa)) continue;
      const bool int8 = isa == cpu::Isa::Avx512;
      for (cpu::ThreadPool* p : {static_cast<cpu::ThreadPool*>(nullptr), &pool}) {
        std::fill(out.begin(), out.end(), 1e30f);
        latent_attention(isa, a, p);
        for (size_t i = 0; i < out.size(); ++i) ASSERT_TRUE(std::isfinite(out[i])) << cpu::isa_name(isa) << " " << i;
        const double e = rel_l2(out, want);
        EXPECT_LT(e, int8 ? 2e-2 : 1e-5) << cpu::isa_name(isa) << (p ? " pool" : " 1 thread") << " heads " << sh.heads
                                          << " positions " << sh.positions << " rank " << sh.rank << " rope " << sh.rope;
        if (std::getenv("FATHOM_TEST_VERBOSE"))
          std::printf("%s heads %lld pos %lld rank %lld: vs dequantized %.2e, vs unquantized cache %.2e\n",
                      std::string(cpu::isa_name(isa)).c_str(), (long long)sh.heads, (long long)sh.positions, (long long)sh.rank, e,
                      rel_l2(out, exact));
      }
    }
  }
}

}  // namespace
}  // namespace fathom::ops
