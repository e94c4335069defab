// Sampler masking rules: greedy and its ties, top-k / top-p / min-p cut-offs at their edges,
// penalties (llama.cpp repeat penalty, OpenAI presence / frequency), masked logits, validation,
// and reproducibility from the seed.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "generation/sampler.h"

using namespace fathom;

namespace {

// Logits whose softmax at temperature 1 is exactly `p` (up to rounding).
std::vector<float> logits_of(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(float(std::log(x)));
  return l;
}

SamplerParams plain(float temperature = 1.0f) { return SamplerParams::plain(temperature); }

std::vector<int32_t> ids(const std::vector<Candidate>& d) {
  std::vector<int32_t> v;
  for (auto& c : d) v.push_back(c.id);
  return v;
}

}  // namespace

TEST(SamplerGreedy, PicksArgmaxAndLowestIdOnTies) {
  Sampler s(plain(0.0f));
  EXPECT_EQ(s.sample(std::vector<float>{0.1f, 3.0f, -1.0f, 2.9f}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 5.0f, 5.0f, 5.0f}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{7.0f, 7.0f}), 0);
  auto d = s.distribution(std::vector<float>{0.0f, 2.0f, 2.0f});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].id, 1);
  EXPECT_EQ(d[0].p, 1.0f);
}

TEST(SamplerGreedy, IgnoresFiltersAndNaN) {
  SamplerParams p = plain(0.0f);
  p.top_k = 2;
  p.top_p = 0.1f;
  p.min_p = 0.9f;
  Sampler s(p);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(s.sample(std::vector<float>{nan, 1.0f, 2.0f, nan}), 2);
}

TEST(SamplerTopK, KeepsKBestWithTiesToLowestIds) {
  SamplerParams p = plain();
  p.top_k = 2;
  Sampler s(p);
  // Three-way tie for first place: the two lowest ids survive.
  EXPECT_EQ(ids(s.distribution(std::vector<float>{0.0f, 1.0f, 1.0f, 1.0f})), (std::vector<int32_t>{1, 2}));
  // Tie at the boundary: 1 is clearly first, then 0 and 3 tie for second.
  EXPECT_EQ(ids(s.distribution(std::vector<float>{0.5f, 2.0f, 0.1f, 0.5f})), (std::vector<int32_t>{1, 0}));
}

TEST(SamplerTopK, OneIsGreedyAndLargerThanVocabIsOff) {
  SamplerParams p = plain(1.5f);
  p.top_k = 1;
  Sampler one(p);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(one.sample(std::vector<float>{0.0f, 0.3f, 0.2f}), 1);
  p.top_k = 1000;
  Sampler all(p);
  EXPECT_EQ(all.distribution(std::vector<float>{0.0f, 0.3f, 0.2f}).size(), 3u);
}

TEST(SamplerTopP, SmallestPrefixReachingP) {
  const auto l = logits_of({0.5, 0.3, 0.15, 0.05});
  auto kept = [&](float top_p) {
    SamplerParams p = plain();
    p.top_p = top_p;
    return ids(Sampler(p).distribution(l));
  };
  EXPECT_EQ(kept(0.0f), (std::vector<int32_t>{0}));  // never empty
  EXPECT_EQ(kept(0.45f), (std::vector<int32_t>{0}));
  EXPECT_EQ(kept(0.55f), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(kept(0.79f), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(kept(0.81f), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(kept(0.99f), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(kept(1.0f), (std::vector<int32_t>{0, 1, 2, 3}));  // off
}

TEST(SamplerTopP, RenormalisesAndAppliesAfterTemperature) {
  SamplerParams p = plain();
  p.top_p = 0.6f;
  auto d = Sampler(p).distribution(logits_of({0.5, 0.3, 0.2}));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_NEAR(d[0].p, 0.625, 1e-6);  // 0.5 / 0.8
  EXPECT_NEAR(d[1].p, 0.375, 1e-6);
  // At temperature 0.5 the probabilities become 25:9:4 / 38: the first alone reaches 0.6.
  p.temperature = 0.5f;
  EXPECT_EQ(ids(Sampler(p).distribution(logits_of({0.5, 0.3, 0.2}))), (std::vector<int32_t>{0}));
}

TEST(SamplerMinP, RelativeToTheMostLikely) {
  const auto l = logits_of({0.2, 0.5, 0.3});
  auto kept = [&](float min_p) {
    SamplerParams p = plain();
    p.min_p = min_p;
    return ids(Sampler(p).distribution(l));
  };
  EXPECT_EQ(kept(0.0f), (std::vector<int32_t>{1, 2, 0}));
  EXPECT_EQ(kept(0.39f), (std::vector<int32_t>{1, 2, 0}));  // threshold 0.195
  EXPECT_EQ(kept(0.41f), (std::vector<int32_t>{1, 2}));     // threshold 0.205
  EXPECT_EQ(kept(0.61f), (std::vector<int32_t>{1}));        // threshold 0.305
  EXPECT_EQ(kept(1.0f), (std::vector<int32_t>{1}));
}

TEST(SamplerMasking, InfiniteLogitsAreNeverDrawn) {
  const float inf = std::numeric_limits<float>::infinity();
  Sampler s(plain());
  for (int i = 0; i < 200; ++i) {
    int32_t t = s.sample(std::vector<float>{-inf, 0.0f, -inf, 0.0f});
    EXPECT_TRUE(t == 1 || t == 3);
  }
}

TEST(SamplerPenalties, RepeatPenaltyDividesPositiveAndMultipliesNegative) {
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  s.accept_prompt(std::vector<int32_t>{0, 0, 0});  // counted once, however often it occurs
  EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.5f}), 1);    // 2 / 2 = 1 < 1.5
  EXPECT_EQ(s.sample(std::vector<float>{-1.0f, -1.5f}), 1);  // -1 * 2 = -2 < -1.5
  EXPECT_EQ(s.sample(std::vector<float>{3.5f, 1.5f}), 0);    // 1.75 > 1.5: not applied 3 times
}

TEST(SamplerPenalties, RepeatWindowIsTheLastNTokens) {
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 4.0f;
  p.repeat_last_n = 1;
  Sampler s(p);
  s.accept_prompt(std::vector<int32_t>{0, 1});  // only token 1 is in the window
  EXPECT_EQ(s.sample(std::vector<float>{2.0f, 2.1f}), 0);
  p.repeat_last_n = 0;  // off
  Sampler off(p);
  off.accept_prompt(std::vector<int32_t>{0, 1});
  EXPECT_EQ(off.sample(std::vector<float>{2.0f, 2.1f}), 1);
}

TEST(SamplerPenalties, PresenceAndFrequencyCountGeneratedTokensOnly) {
  SamplerParams p = plain(0.0f);
  p.presence_penalty = 0.5f;
  Sampler presence(p);
  presence.accept_prompt(std::vector<int32_t>{0, 0, 0, 0});
  EXPECT_EQ(presence.sample(std::vector<float>{3.0f, 2.0f}), 0);  // the prompt does not count
  presence.accept(0);
  presence.accept(0);
  EXPECT_EQ(presence.sample(std::vector<float>{3.0f, 2.0f}), 0);  // 3 - 0.5 = 2.5 > 2
  p.frequency_penalty = 0.4f;
  Sampler both(p);
  both.accept(0);
  both.accept(0);
  EXPECT_EQ(both.sample(std::vector<float>{3.0f, 2.0f}), 1);  // 3 - 0.5 - 2 * 0.4 = 1.7 < 2
  both.reset();
  EXPECT_EQ(both.sample(std::vector<float>{3.0f, 2.0f}), 0);
}

TEST(SamplerParams, RejectsOutOfRange) {
  auto bad = [](auto edit) {
    SamplerParams p;
    edit(p);
    EXPECT_THROW(Sampler{p}, fathom::Error);
  };
  bad([](SamplerParams& p) { p.temperature = -0.1f; });
  bad([](SamplerParams& p) { p.temperature = std::numeric_limits<float>::infinity(); });
  bad([](SamplerParams& p) { p.top_p = 1.5f; });
  bad([](SamplerParams& p) { p.top_p = -0.1f; });
  bad([](SamplerParams& p) { p.min_p = 2.0f; });
  bad([](SamplerParams& p) { p.repeat_penalty = 0.0f; });
  bad([](SamplerParams& p) { p.repeat_last_n = -2; });
}

TEST(SamplerSeed, SameSeedSameTokensOtherSeedOthers) {
  const std::vector<float> l(50, 0.0f);  // uniform over 50 tokens
  auto draw = [&](uint64_t seed) {
    SamplerParams p = plain();
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> v;
    for (int i = 0; i < 64; ++i) v.push_back(s.sample(l));
    return v;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}
