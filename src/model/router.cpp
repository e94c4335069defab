#include "model/router.h"

#include <algorithm>
#include <cmath>

#include "ops/reference.h"

namespace fathom {

namespace {
// Index of the largest value not yet taken; ties go to the lower index.
int32_t argmax_free(const float* v, int64_t n, const uint8_t* taken) {
  int32_t best = -1;
  for (int64_t i = 0; i < n; ++i)
    if (!taken[i] && (best < 0 || v[i] > v[best])) best = int32_t(i);
  return best;
}
}  // namespace

void router_scores(ScoringFunc f, float* s, int64_t E) {
  switch (f) {
    case ScoringFunc::Softmax:
      ops::ref::softmax(s, E);
      return;
    case ScoringFunc::Sigmoid:
      for (int64_t e = 0; e < E; ++e) s[e] = float(1.0 / (1.0 + std::exp(-double(s[e]))));
      return;
  }
}

double select_experts(const ModelConfig& c, const float* scores, const float* bias, const RouterScratch& s,
                      int32_t* experts, float* weights) {
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok;
  const bool noaux = c.topk_method == TopkMethod::NoauxTc;
  float* choice = s.choice;
  for (int64_t e = 0; e < E; ++e) choice[e] = noaux ? scores[e] + bias[e] : scores[e];
  if (c.topk_method != TopkMethod::Greedy && c.n_group > 1) {
    const int64_t per = E / c.n_group;
    for (int64_t g = 0; g < c.n_group; ++g) {  // group score: its top-1 (noaux_tc: top-1 + top-2)
      const float* m = choice + g * per;
      int64_t i1 = 0;
      for (int64_t i = 1; i < per; ++i)
        if (m[i] > m[i1]) i1 = i;
      float second = -INFINITY;
      for (int64_t i = 0; i < per; ++i)
        if (i != i1) second = std::max(second, m[i]);
      s.group[g] = noaux ? m[i1] + second : m[i1];
    }
    std::fill(s.taken, s.taken + c.n_group, uint8_t(0));
    for (int64_t k = 0; k < c.topk_group; ++k) s.taken[argmax_free(s.group, c.n_group, s.taken)] = 1;
    for (int64_t e = 0; e < E; ++e)
      if (!s.taken[e / per]) choice[e] = -INFINITY;  // official semantics: masked experts can never win
  }
  std::fill(s.taken, s.taken + E, uint8_t(0));
  for (int64_t k = 0; k < K; ++k) {
    const int32_t e = argmax_free(choice, E, s.taken);
    s.taken[e] = 1;
    experts[k] = e;
  }
  // Gate weights from the unbiased scores.
  double sum = 1e-20;
  for (int64_t k = 0; k < K; ++k) sum += scores[experts[k]];
  const bool norm = c.norm_topk_prob && K > 1;
  for (int64_t k = 0; k < K; ++k) {
    float g = scores[experts[k]];
    if (norm) g = float(g / sum);
    weights[k] = float(g * c.routed_scaling_factor);
  }
  return sum;
}

Routes route_tokens(const Exec& ex, const ModelConfig& c, const RouterWeights& gate, const float* x, int64_t T) {
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok;
  ops::WeightMatrix W;
  W.format = ops::WFormat::F32;
  W.rows = E;
  W.cols = c.hidden_size;
  W.data = gate.weight.data();
  std::vector<float> scores(T * E);
  linear(ex, W, x, T, scores.data());
  std::vector<float> choice(E), group(c.n_group);
  std::vector<uint8_t> taken(std::max(E, c.n_group));
  const RouterScratch scratch{choice.data(), group.data(), taken.data()};
  const float* bias = gate.e_score_correction_bias.empty() ? nullptr : gate.e_score_correction_bias.data();
  Routes r;
  r.k_per_token = K;
  r.experts.resize(T * K);
  r.weights.resize(T * K);
  for (int64_t t = 0; t < T; ++t) {
    router_scores(c.scoring_func, scores.data() + t * E, E);
    select_experts(c, scores.data() + t * E, bias, scratch, r.experts.data() + t * K, r.weights.data() + t * K);
  }
  return r;
}

}  // namespace fathom
