// The sampler draws from the distribution it claims: for fixed seeds, the counts of many draws are
// compared with the expected probabilities by Pearson's chi-square statistic. The seeds are fixed,
// so each test is deterministic; the bounds sit at p ~ 1e-4 of the chi-square law, so a correct
// sampler passes with any seed and a biased one (an off-by-one in a cut, temperature applied
// twice, a skewed draw) fails by orders of magnitude.
#include <gtest/gtest.h>

#include <cmath>

#include "generation/sampler.h"

using namespace fathom;

namespace {

// Softmax of logits / temperature over the ids in `keep` (others 0).
std::vector<double> expected(const std::vector<float>& logits, float temperature, const std::vector<int32_t>& keep) {
  std::vector<double> p(logits.size(), 0.0);
  double sum = 0;
  for (int32_t i : keep) sum += p[i] = std::exp(double(logits[i]) / temperature);
  for (double& x : p) x /= sum;
  return p;
}

// Draws n tokens; fails on any token with expected probability 0; returns chi-square over the rest.
double chi_square(Sampler& s, const std::vector<float>& logits, const std::vector<double>& p, int n) {
  std::vector<int64_t> count(logits.size(), 0);
  for (int i = 0; i < n; ++i) ++count[s.sample(logits)];
  double chi2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      EXPECT_EQ(count[i], 0) << "token " << i << " is masked but was drawn";
      continue;
    }
    const double e = p[i] * n;
    chi2 += (count[i] - e) * (count[i] - e) / e;
  }
  return chi2;
}

const std::vector<float> kLogits = {1.0f, 2.5f, 0.3f, -1.0f, 2.0f, 0.0f, 1.7f, -0.5f};

SamplerParams params(float temperature, int32_t top_k, float top_p, float min_p, uint64_t seed) {
  SamplerParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  p.seed = seed;
  return p;
}

}  // namespace

// chi-square quantiles at p = 1e-4: 7 dof 29.9, 3 dof 21.1, 4 dof 23.5, 2 dof 18.4.

TEST(SamplerDistribution, FullSoftmaxAtTemperatureOne) {
  for (uint64_t seed : {1, 2, 3}) {
    Sampler s(params(1.0f, 0, 1.0f, 0.0f, seed));
    EXPECT_LT(chi_square(s, kLogits, expected(kLogits, 1.0f, {0, 1, 2, 3, 4, 5, 6, 7}), 200000), 29.9)
        << "seed " << seed;
  }
}

TEST(SamplerDistribution, TemperatureSharpensAndFlattens) {
  for (float t : {0.5f, 2.0f}) {
    Sampler s(params(t, 0, 1.0f, 0.0f, 11));
    EXPECT_LT(chi_square(s, kLogits, expected(kLogits, t, {0, 1, 2, 3, 4, 5, 6, 7}), 200000), 29.9) << "temp " << t;
  }
}

TEST(SamplerDistribution, TopKRenormalisesOverTheK) {
  // The 4 largest logits: ids 1 (2.5), 4 (2.0), 6 (1.7), 0 (1.0).
  Sampler s(params(0.7f, 4, 1.0f, 0.0f, 5));
  EXPECT_LT(chi_square(s, kLogits, expected(kLogits, 0.7f, {1, 4, 6, 0}), 200000), 21.1);
}

TEST(SamplerDistribution, TopPAndMinPTogether) {
  // Temperature 1: p = .392 .238 .176 .087 .043 ... (ids 1, 4, 6, 0, 2, ...), cumulative .392 .630
  // .806 .893: top-p 0.85 keeps 1, 4, 6, 0; min-p 0.2 of the renormalised p_max (.439) cuts at
  // .088, and id 0 (.098 renormalised) stays.
  Sampler s(params(1.0f, 0, 0.85f, 0.2f, 9));
  EXPECT_LT(chi_square(s, kLogits, expected(kLogits, 1.0f, {1, 4, 6, 0}), 200000), 21.1);
  // min-p 0.3 cuts at .132 of the renormalised distribution: only 1, 4 and 6 remain.
  Sampler t(params(1.0f, 0, 0.85f, 0.3f, 9));
  EXPECT_LT(chi_square(t, kLogits, expected(kLogits, 1.0f, {1, 4, 6}), 200000), 18.4);
}

TEST(SamplerDistribution, PenalisedLogitsAreWhatIsSampled) {
  SamplerParams p = params(1.0f, 0, 1.0f, 0.0f, 4);
  p.repeat_penalty = 1.5f;
  p.frequency_penalty = 0.25f;
  Sampler s(p);
  s.accept_prompt(std::vector<int32_t>{3});
  s.accept(1);
  s.accept(1);
  std::vector<float> penalised = kLogits;
  penalised[3] *= 1.5f;                        // negative: multiplied
  penalised[1] = penalised[1] / 1.5f - 0.5f;   // positive: divided, then 2 x 0.25
  EXPECT_LT(chi_square(s, kLogits, expected(penalised, 1.0f, {0, 1, 2, 3, 4, 5, 6, 7}), 200000), 29.9);
}

TEST(SamplerDistribution, ABiasedExpectationIsCaught) {
  // The test's own power: the right counts against a slightly wrong temperature must fail.
  Sampler s(params(1.0f, 0, 1.0f, 0.0f, 1));
  EXPECT_GT(chi_square(s, kLogits, expected(kLogits, 1.05f, {0, 1, 2, 3, 4, 5, 6, 7}), 200000), 29.9);
}
