#include "model/router.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/reference.h"

namespace fathom {

namespace {
// Indices of the k largest values, largest first; ties go to the lower index.
std::vector<int32_t> top_k(const std::vector<float>& v, int64_t k) {
  std::vector<int32_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
  });
  idx.resize(k);
  return idx;
}
}  // namespace

Routing select_experts(const ModelConfig& c, const std::vector<float>& scores, const std::vector<float>& bias) {
  const int64_t E = c.n_routed_experts, k = c.num_experts_per_tok;
  std::vector<float> choice = scores;
  if (c.topk_method == "noaux_tc")
    for (int64_t e = 0; e < E; ++e) choice[e] += bias[e];

  if (c.topk_method != "greedy" && c.n_group > 1) {
    const int64_t per = E / c.n_group;
    std::vector<float> group_score(c.n_group);
    for (int64_t g = 0; g < c.n_group; ++g) {
      std::vector<float> members(choice.begin() + g * per, choice.begin() + (g + 1) * per);
      std::sort(members.begin(), members.end(), std::greater<float>());
      group_score[g] = c.topk_method == "noaux_tc" ? members[0] + members[1] : members[0];
    }
    std::vector<int32_t> keep = top_k(group_score, c.topk_group);
    std::vector<bool> kept(c.n_group, false);
    for (int32_t g : keep) kept[g] = true;
    for (int64_t e = 0; e < E; ++e)
      if (!kept[e / per]) choice[e] = -INFINITY;  // official semantics: masked experts can never win
  }

  Routing r;
  r.experts = top_k(choice, k);
  for (int32_t e : r.experts) r.weights.push_back(scores[e]);
  if (c.norm_topk_prob && k > 1) {
    double sum = 1e-20;
    for (float w : r.weights) sum += w;
    for (float& w : r.weights) w = float(w / sum);
  }
  for (float& w : r.weights) w = float(w * c.routed_scaling_factor);
  return r;
}

std::vector<Routing> route_tokens(const Exec& ex, const ModelConfig& c, const RouterWeights& gate, const float* x,
                                  int64_t T) {
  const int64_t E = c.n_routed_experts, H = c.hidden_size;
  ops::WeightMatrix W;
  W.format = ops::WFormat::F32;
  W.rows = E;
  W.cols = H;
  W.data = gate.weight.data();
  std::vector<float> logits(T * E);
  linear(ex, W, x, T, logits.data());
  std::vector<Routing> out(T);
  std::vector<float> scores(E);
  const std::vector<float> bias(gate.e_score_correction_bias.begin(), gate.e_score_correction_bias.end());
  for (int64_t t = 0; t < T; ++t) {
    std::copy(logits.begin() + t * E, logits.begin() + (t + 1) * E, scores.begin());
    if (c.scoring_func == "softmax") {
      ops::ref::softmax(scores.data(), E);
    } else {
      for (float& s : scores) s = float(1.0 / (1.0 + std::exp(-double(s))));
    }
    out[t] = select_experts(c, scores, bias);
  }
  return out;
}

}  // namespace fathom
