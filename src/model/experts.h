// Feed-forward blocks: the dense SiLU-gated MLP and DeepSeekMoE (shared experts that every token
// uses plus fine-grained routed experts chosen by the router).
#pragma once
#include <cstdint>

#include "model/compute.h"
#include "model/config.h"
#include "model/weights.h"

namespace fathom {

// out[T, hidden] = down(silu(gate(x)) * up(x)); x: [T, hidden]
void mlp_forward(const Exec& ex, const MlpWeights& w, const float* x, int64_t T, float* out);

// out[T, hidden] = Σ_k weight_k · expert_k(x) + shared_experts(x). Tokens are grouped by expert so
// each expert's weights are read once per call.
void moe_forward(const Exec& ex, const ModelConfig& cfg, const MoeWeights& w, const float* x, int64_t T, float* out);

}  // namespace fathom
