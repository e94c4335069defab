// What `fathom bench --verify` counts (generation/verify_cost.h): the routed experts of a verify step
// of 1+K tokens are those the same tokens pick decoded one at a time, the distinct count lies between
// k and (1+K)·k per MoE layer, the step leaves the cache as it found it, and the consecutive-token
// share is the mean of |E(t) ∩ E(t+1)| / k. (The command's table and its errors: generation_cli_test.)
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "generation/verify_cost.h"
#include "model/decode_bytes.h"
#include "model/model.h"
#include "test_util.h"

using namespace fathom;

namespace {

// Token t's picks in `layer`, sorted (the router orders them by score; the sets are what is read).
std::vector<int32_t> picks(const TokenRoutes& r, size_t layer, int64_t t) {
  std::vector<int32_t> v(r.experts[layer].begin() + t * r.k, r.experts[layer].begin() + (t + 1) * r.k);
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST(VerifyCost, VerifyStepRoutesLikeOneTokenStepsAndCountsDistinctExperts) {
  auto m = Model::load(test::synth_model("tiny-v3", SynthDType::FP8));
  const ModelConfig& c = m->config();
  Runtime rt(1);
  const Exec ex = rt.exec();
  std::mt19937 rng(5);
  std::vector<int32_t> context(16), tokens(8);
  for (int32_t& t : context) t = int32_t(rng() % uint64_t(c.vocab_size));
  for (int32_t& t : tokens) t = int32_t(rng() % uint64_t(c.vocab_size));
  LatentCache cache = m->make_cache(int64_t(context.size() + tokens.size()));
  m->forward(ex, context.data(), int64_t(context.size()), cache, AttentionPath::Expanded, nullptr, nullptr);
  const int64_t L0 = cache.length();

  const TokenRoutes single = route_one_by_one(*m, ex, tokens.data(), int64_t(tokens.size()), cache);
  EXPECT_EQ(cache.length(), L0);
  const int64_t k = c.num_experts_per_tok;
  ASSERT_EQ(single.k, k);
  int64_t moe_layers = 0;
  for (int64_t K = 1; K <= 4; ++K) {
    TokenRoutes r;
    verify_step(*m, ex, tokens.data(), K + 1, cache, nullptr, &r);
    EXPECT_EQ(cache.length(), L0) << "the verify step must be cut back";
    ASSERT_EQ(r.experts.size(), size_t(c.num_hidden_layers));
    int64_t total = 0;
    moe_layers = 0;
    for (size_t l = 0; l < r.experts.size(); ++l) {
      if (!m->weights().layers[l].is_moe) {
        EXPECT_TRUE(r.experts[l].empty()) << "dense layer " << l;
        continue;
      }
      ++moe_layers;
      ASSERT_EQ(r.tokens(int64_t(l)), K + 1);
      std::set<int32_t> independent;  // the union of the one-token steps' picks
      for (int64_t t = 0; t <= K; ++t) {
        EXPECT_EQ(picks(r, l, t), picks(single, l, t)) << "layer " << l << " token " << t;
        for (int32_t e : picks(single, l, t)) independent.insert(e);
      }
      const int64_t d = r.distinct(int64_t(l), K + 1);
      EXPECT_EQ(d, int64_t(independent.size())) << "layer " << l << " K " << K;
      EXPECT_GE(d, k);
      EXPECT_LE(d, (K + 1) * k);
      total += d;
    }
    EXPECT_EQ(r.distinct_total(K + 1), total);
    // The bytes follow the experts: a one-token step's routed part is k per MoE layer.
    const DecodeBytes b = decode_bytes(*m);
    EXPECT_EQ(b.moe_layers, moe_layers);
    EXPECT_EQ(b.step(total) - b.one_token(), uint64_t(total - moe_layers * k) * b.expert);
  }
  EXPECT_GT(moe_layers, 0);
}

TEST(VerifyCost, ConsecutiveShareIsTheMeanOverlapOverLayersAndPairs) {
  TokenRoutes r;
  r.k = 2;
  // layer 0: dense; layer 1: {0,1} {2,1} {3,4} -> 1/2, 0; layer 2: {5,6} {6,5} -> 1.
  r.experts = {{}, {0, 1, 2, 1, 3, 4}, {5, 6, 6, 5}};
  int64_t pairs = 0;
  EXPECT_DOUBLE_EQ(r.consecutive_share(&pairs), (0.5 + 0.0 + 1.0) / 3);
  EXPECT_EQ(pairs, 3);
  EXPECT_EQ(r.distinct(1, 2), 3);
  EXPECT_EQ(r.distinct(1, 3), 5);
  EXPECT_EQ(r.distinct(2, 2), 2);
  EXPECT_EQ(r.distinct_total(2), 5);
}
