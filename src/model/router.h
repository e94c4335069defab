// The DeepSeekMoE router: scores every routed expert for one token and picks num_experts_per_tok.
//   scoring_func   softmax (V2) | sigmoid (V3)
//   topk_method    greedy               — top-k of the scores
//                  group_limited_greedy — keep the topk_group groups with the highest max score
//                  noaux_tc             — scores + e_score_correction_bias choose (groups ranked by
//                                         the sum of their top-2), the unbiased scores weigh
//   then weights /= Σ weights if norm_topk_prob, and weights *= routed_scaling_factor.
// router_scores and select_experts are the one definition of these rules: inference (route_tokens,
// model/experts.cpp) and training (training/moe.cpp) both call them.
#pragma once
#include <cstdint>
#include <vector>

#include "model/compute.h"
#include "model/config.h"
#include "model/weights.h"

namespace fathom {

// In place: router logits [E] -> scores [E] (softmax over the experts, or an independent sigmoid each).
void router_scores(ScoringFunc f, float* logits, int64_t E);

// Scratch for select_experts, so that selecting allocates nothing per token:
// choice [n_routed_experts], group [n_group], taken [max(n_routed_experts, n_group)].
struct RouterScratch {
  float* choice = nullptr;
  float* group = nullptr;
  uint8_t* taken = nullptr;
};

// One token: scores [E] from router_scores; bias [E] is e_score_correction_bias (read under noaux_tc
// only, may be null otherwise). Writes experts [K] in descending order of selection score (ties go to
// the lower index; experts of dropped groups never win) and their gate weights [K]. Returns the
// norm_topk_prob denominator, 1e-20 + Σ of the chosen scores (training's backward needs it).
double select_experts(const ModelConfig& cfg, const float* scores, const float* bias, const RouterScratch& scratch,
                      int32_t* experts, float* weights);

// The routing of T tokens: token t's k-th expert is experts[t * k_per_token + k].
struct Routes {
  int64_t k_per_token = 0;
  std::vector<int32_t> experts;  // [T, k_per_token]
  std::vector<float> weights;    // [T, k_per_token]
};

// x: [T, hidden] post-attention-normalised tokens; the router logits x·Wᵀ are one matmul over f32
// router weights (the same on both paths up to summation order).
Routes route_tokens(const Exec& ex, const ModelConfig& cfg, const RouterWeights& gate, const float* x, int64_t T);

}  // namespace fathom
