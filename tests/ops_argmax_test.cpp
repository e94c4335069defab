// ops::argmax against a plain scan: the first index of the maximum, NaN never winning, any length.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ops/argmax.h"

namespace fathom::ops {
namespace {

int64_t scan(const std::vector<float>& x) {  // the definition, written the obvious way
  int64_t best = -1;
  for (int64_t i = 0; i < int64_t(x.size()); ++i)
    if (!std::isnan(x[size_t(i)]) && (best < 0 || x[size_t(i)] > x[size_t(best)])) best = i;
  return best < 0 ? 0 : best;
}

TEST(Argmax, MatchesAScanOnRandomInputsWithTies) {
  std::mt19937 rng(5);
  for (int64_t n : {1, 2, 15, 16, 17, 31, 33, 100, 1000, 102400}) {
    for (int rep = 0; rep < 20; ++rep) {
      std::vector<float> x(static_cast<size_t>(n));
      // Few distinct values, so the maximum occurs many times and the lowest index must win.
      std::uniform_int_distribution<int> v(-3, 3);
      for (float& e : x) e = float(v(rng));
      EXPECT_EQ(argmax(x.data(), n), scan(x)) << "n " << n;
    }
  }
}

TEST(Argmax, EdgeValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x(40, 1.0f);
  x[37] = 2.0f;  // in the tail past the last whole 16
  EXPECT_EQ(argmax(x.data(), 40), 37);
  x[3] = 2.0f;  // an earlier equal one, in a lane
  EXPECT_EQ(argmax(x.data(), 40), 3);
  x[20] = nan;
  x[0] = nan;
  EXPECT_EQ(argmax(x.data(), 40), 3);
  x[25] = inf;
  EXPECT_EQ(argmax(x.data(), 40), 25);
  std::vector<float> all_neg_inf(20, -inf);
  EXPECT_EQ(argmax(all_neg_inf.data(), 20), 0);
  std::vector<float> nans(20, nan);
  nans[18] = -inf;
  EXPECT_EQ(argmax(nans.data(), 20), 18);
  EXPECT_EQ(argmax(nans.data(), 0), 0);
}

}  // namespace
}  // namespace fathom::ops
