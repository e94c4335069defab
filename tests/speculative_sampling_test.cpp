// Speculative sampling (SpeculativeSampler, generation/speculative.h) leaves the output distribution
// exactly the target's, after every sampler filter and penalty. The "model" is a Markov chain over
// a tiny vocabulary: the target's logits after token a are target[a], the draft's draft[a] (a
// deliberately different chain, so many drafts are rejected). Every emitted token is scored against
// the target distribution it should follow — computed independently, by a Sampler that has seen the
// same history — in a Pearson chi-square over (previous, next) cells.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <span>

#include "generation/speculative.h"

namespace fathom {
namespace {

constexpr int kV = 6;
using Table = std::vector<std::vector<float>>;  // [previous token][vocab] logits

Table random_table(uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, scale);
  Table t(kV, std::vector<float>(kV));
  for (auto& row : t)
    for (float& x : row) x = n(rng);
  return t;
}

// Upper 1e-6 quantile of chi-square with df degrees of freedom (Wilson–Hilferty; z = 4.7534).
double chi2_critical(int df) {
  const double a = 2.0 / (9.0 * df), z = 4.7534;
  return df * std::pow(1 - a + z * std::sqrt(a), 3);
}

struct Tally {
  std::vector<double> observed = std::vector<double>(kV * kV, 0.0), expected = std::vector<double>(kV * kV, 0.0);
  // Pearson's statistic over cells expecting at least 5 draws, the rest pooled into one cell. A pool
  // expecting fewer than 5 is judged on its own instead: more than 5 + 10x its expectation (a
  // Poisson tail below 1e-9) counts as a rejection (+inf).
  double statistic(int* df) const {
    double x2 = 0, po = 0, pe = 0;
    int cells = 0;
    for (size_t i = 0; i < observed.size(); ++i) {
      if (expected[i] >= 5) {
        x2 += (observed[i] - expected[i]) * (observed[i] - expected[i]) / expected[i];
        ++cells;
      } else {
        po += observed[i];
        pe += expected[i];
      }
    }
    *df = cells - 1;
    if (pe >= 5) {
      x2 += (po - pe) * (po - pe) / pe;
      ++*df;
    } else if (po > 5 + 10 * pe) {
      return INFINITY;
    }
    return x2;
  }
};

// A constraint whose allowed set depends on the round's state (the last token): after token a,
// tokens (a + 1) % kV and (2a + 3) % kV are forbidden. A JSON schema's mask behaves so.
struct TestMask final : RoundMask {
  int32_t request_state = 0, state = 0;
  static bool forbidden(int32_t a, int32_t v) { return v == (a + 1) % kV || v == (2 * a + 3) % kV; }
  void restart() override { state = request_state; }
  bool apply(std::span<float> logits) override {
    for (int32_t v = 0; v < kV; ++v)
      if (forbidden(state, v)) logits[size_t(v)] = -std::numeric_limits<float>::infinity();
    return true;
  }
  void advance(int32_t t) override { state = t; }
};

// Runs speculative rounds of K drafts until n tokens are out; `draws_from_draft` instead emits
// plain draws from the draft chain (the output "accept every draft" would tend to), the negative
// control that shows the statistic detects a wrong distribution.
// draft_vocab: the draft proposes only these tokens (its logits -inf elsewhere), as an MTP drafter
// over a sub-vocabulary does (DraftWeights, model/mtp_draft_weights.h); empty: every token.
// masked: under TestMask, whose constrained target is then the distribution to follow.
Tally run(const SamplerParams& params, int64_t K, int64_t n, bool draws_from_draft = false,
          const std::vector<int32_t>& draft_vocab = {}, bool masked = false) {
  const Table target = random_table(11, 1.5f);
  Table draft = random_table(12, 1.5f);
  if (!draft_vocab.empty())
    for (auto& row : draft)
      for (int32_t v = 0; v < kV; ++v)
        if (std::find(draft_vocab.begin(), draft_vocab.end(), v) == draft_vocab.end())
          row[size_t(v)] = -std::numeric_limits<float>::infinity();
  Sampler sampler(params);
  SpeculativeSampler spec(sampler);
  Sampler mirror(params);  // the same history, to score each token against its target distribution
  Tally tally;
  std::vector<float> rows;
  std::vector<int32_t> out;
  int32_t prev = 0;
  TestMask mask;
  for (int64_t emitted = 0; emitted < n;) {
    out.clear();
    mask.request_state = prev;
    spec.begin_round(masked ? &mask : nullptr);
    if (draws_from_draft) {
      Sampler& s = sampler;
      out.push_back(s.sample(draft[size_t(prev)]));
    } else {
      rows.assign(target[size_t(prev)].begin(), target[size_t(prev)].end());
      int32_t d = prev;
      for (int64_t k = 0; k < K; ++k) {
        d = spec.draft(draft[size_t(d)]);
        if (d < 0) break;
        rows.insert(rows.end(), target[size_t(d)].begin(), target[size_t(d)].end());
      }
      spec.verify(rows, 0, out);
    }
    for (int32_t t : out) {
      std::vector<float> want(target[size_t(prev)]);
      if (masked) {
        mask.state = prev;
        mask.apply(want);
      }
      for (const Candidate& c : mirror.distribution(want)) tally.expected[size_t(prev * kV + c.id)] += c.p;
      tally.observed[size_t(prev * kV + t)] += 1;
      mirror.accept(t);
      sampler.accept(t);
      prev = t;
      ++emitted;
    }
  }
  return tally;
}

struct Setting {
  const char* name;
  SamplerParams p;
};

std::vector<Setting> settings() {
  auto make = [](float temp, int32_t top_k, float top_p, float min_p) {
    SamplerParams p;
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = 1234;
    return p;
  };
  std::vector<Setting> s = {{"plain", make(1.0f, 0, 1.0f, 0.0f)},
                            {"temperature 0.6, top-k 4", make(0.6f, 4, 1.0f, 0.0f)},
                            {"temperature 1.4, top-p 0.8", make(1.4f, 0, 0.8f, 0.0f)},
                            {"min-p 0.15", make(1.0f, 0, 1.0f, 0.15f)}};
  Setting pen{"repeat 1.5 over 3, presence 0.4, frequency 0.05", make(0.9f, 5, 0.95f, 0.02f)};
  pen.p.repeat_penalty = 1.5f;
  pen.p.repeat_last_n = 3;
  pen.p.presence_penalty = 0.4f;
  pen.p.frequency_penalty = 0.05f;
  s.push_back(pen);
  return s;
}

TEST(SpeculativeSampling, OutputDistributionIsTheTargets) {
  int64_t K = 1;  // 1, 2, 3, 1, 2 drafts a round over the settings
  for (const Setting& s : settings()) {
    SCOPED_TRACE(std::string(s.name) + ", K=" + std::to_string(K));
    int df = 0;
    const double x2 = run(s.p, K, 100000).statistic(&df);
    ASSERT_GT(df, 0);
    EXPECT_LT(x2, chi2_critical(df)) << "df " << df;
    K = K % 3 + 1;
  }
}

// Drafts from a sub-vocabulary (q zero outside it, the target's mass there reached only through
// the residual): still exactly the target's distribution.
TEST(SpeculativeSampling, SubVocabularyDraftsKeepTheTargetsDistribution) {
  int64_t K = 1;
  for (const Setting& s : settings()) {
    SCOPED_TRACE(std::string(s.name) + ", K=" + std::to_string(K));
    int df = 0;
    const double x2 = run(s.p, K, 100000, false, {0, 2, 3}).statistic(&df);
    ASSERT_GT(df, 0);
    EXPECT_LT(x2, chi2_critical(df)) << "df " << df;
    K = K % 3 + 1;
  }
}

// Under a constraint applied to drafts and targets alike (a JSON schema's mask inside the round):
// exactly the constrained target's distribution, and no forbidden token ever comes out.
TEST(SpeculativeSampling, MaskedRoundsKeepTheMaskedTargetsDistribution) {
  int64_t K = 1;
  for (const Setting& s : settings()) {
    SCOPED_TRACE(std::string(s.name) + ", K=" + std::to_string(K));
    int df = 0;
    const Tally t = run(s.p, K, 100000, false, {}, true);
    for (int32_t a = 0; a < kV; ++a)
      for (int32_t v = 0; v < kV; ++v)
        if (TestMask::forbidden(a, v)) {
          EXPECT_EQ(t.observed[size_t(a * kV + v)], 0) << a << " -> " << v;
        }
    const double x2 = t.statistic(&df);
    ASSERT_GT(df, 0);
    EXPECT_LT(x2, chi2_critical(df)) << "df " << df;
    K = K % 3 + 1;
  }
}

// The negative control: draft-chain output fails the same test by far.
TEST(SpeculativeSampling, StatisticRejectsTheDraftDistribution) {
  for (const Setting& s : settings()) {
    SCOPED_TRACE(s.name);
    int df = 0;
    const double x2 = run(s.p, 1, 100000, true).statistic(&df);
    EXPECT_GT(x2, chi2_critical(df)) << "df " << df;
  }
}

// Greedy: drafts are accepted exactly when they are the target's argmax, and no random number is
// drawn, so the tokens are those of greedy decoding.
TEST(SpeculativeSampling, GreedyIsTheArgmaxChain) {
  // The draft: the target's logits plus noise, so that some drafts agree and some do not.
  const Table target = random_table(21, 1.0f), noise = random_table(22, 0.8f);
  Table draft = target;
  for (int a = 0; a < kV; ++a)
    for (int v = 0; v < kV; ++v) draft[size_t(a)][size_t(v)] += noise[size_t(a)][size_t(v)];
  SamplerParams p;
  p.temperature = 0;
  Sampler sampler(p), plain(p);
  SpeculativeSampler spec(sampler);
  std::vector<int32_t> out, expected;
  int32_t prev = 0, prev_plain = 0;
  int64_t accepted = 0;
  while (expected.size() < 200) {
    spec.begin_round();
    std::vector<float> rows(target[size_t(prev)]);
    int32_t d = prev;
    for (int k = 0; k < 2; ++k) {
      d = spec.draft(draft[size_t(d)]);
      rows.insert(rows.end(), target[size_t(d)].begin(), target[size_t(d)].end());
    }
    const size_t before = out.size();
    accepted += spec.verify(rows, 0, out);
    for (size_t i = before; i < out.size(); ++i) {
      sampler.accept(out[i]);
      prev = out[i];
      const int32_t t = plain.sample(target[size_t(prev_plain)]);
      plain.accept(t);
      expected.push_back(t);
      prev_plain = t;
    }
  }
  EXPECT_EQ(out, expected);
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, int64_t(out.size()) - 1);
}

// No drafts: a round is exactly Sampler::sample, random stream included.
TEST(SpeculativeSampling, NoDraftsIsPlainSampling) {
  const Table target = random_table(31, 1.0f);
  SamplerParams p;
  p.seed = 99;
  Sampler a(p), b(p);
  SpeculativeSampler spec(a);
  int32_t prev = 0;
  std::vector<int32_t> out;
  for (int i = 0; i < 500; ++i) {
    spec.begin_round();
    out.clear();
    spec.verify(target[size_t(prev)], 0, out);
    ASSERT_EQ(out.size(), 1u);
    const int32_t want = b.sample(target[size_t(prev)]);
    ASSERT_EQ(out[0], want) << "at " << i;
    a.accept(out[0]);
    b.accept(want);
    prev = want;
  }
}

}  // namespace
}  // namespace fathom
