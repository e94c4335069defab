// The DeepSeekMoE router: scores every routed expert for one token and picks num_experts_per_tok.
//   scoring_func   softmax (V2) | sigmoid (V3)
//   topk_method    greedy               — top-k of the scores
//                  group_limited_greedy — keep the topk_group groups with the highest max score
//                  noaux_tc             — scores + e_score_correction_bias choose (groups ranked by
//                                         the sum of their top-2), the unbiased scores weigh
//   then weights /= Σ weights if norm_topk_prob, and weights *= routed_scaling_factor.
#pragma once
#include <cstdint>
#include <vector>

#include "model/compute.h"
#include "model/config.h"
#include "model/weights.h"

namespace fathom {

struct Routing {
  std::vector<int32_t> experts;  // [k], in descending order of selection score
  std::vector<float> weights;    // [k]
};

// x: [T, hidden] post-attention-normalised tokens; the router logits x·Wᵀ are one matmul over f32
// router weights (the same on both paths up to summation order).
std::vector<Routing> route_tokens(const Exec& ex, const ModelConfig& cfg, const RouterWeights& gate, const float* x,
                                  int64_t T);

// The selection step alone, exposed for tests: scores [E] (after scoring_func), bias may be empty.
Routing select_experts(const ModelConfig& cfg, const std::vector<float>& scores, const std::vector<float>& bias);

}  // namespace fathom
