// Feed-forward blocks: the dense SiLU-gated MLP and DeepSeekMoE (shared experts that every token
// uses plus fine-grained routed experts chosen by the router).
#pragma once
#include <cstdint>
#include <span>

#include "model/compute.h"
#include "model/config.h"
#include "model/weights.h"

namespace fathom {

// out[T, hidden] = down(silu(gate(x)) * up(x)); x: [T, hidden]
void mlp_forward(const Exec& ex, const MlpWeights& w, const float* x, int64_t T, float* out);

// Tokens grouped by expert, for N tokens routed to K distinct experts each (experts: [N, K]): a
// counting sort in token order. Expert e owns slots [offset[e], offset[e+1]) and count[e] of them;
// slot_token[s] is the token in slot s, slot[n * K + k] the slot of token n's k-th expert. Shared by
// inference (moe_forward below) and training (training/moe.cpp), which both run each expert once over
// its slots. count [E], offset [E + 1], slot and slot_token [N * K].
void assign_expert_slots(const int32_t* experts, int64_t N, int64_t K, int64_t E, int32_t* count, int32_t* offset,
                         int32_t* slot, int32_t* slot_token);
// xs[s, :] = x[slot_token[s], :] for s < n_slots; rows of H values.
void gather_expert_inputs(const float* x, const int32_t* slot_token, int64_t n_slots, int64_t H, float* xs);

// One expert (routed or shared) over n rows: out[n, hidden] = mlp(in[n, hidden]).
struct ExpertRun {
  const MlpWeights* mlp;
  const float* in;
  int64_t n;
  float* out;
};
// Runs them all: the gate/up products of every run in one parallel region, then all down products
// in another. Each row's result depends on that row alone.
void run_experts(const Exec& ex, std::span<const ExpertRun> runs);

// out[T, hidden] = Σ_k weight_k · expert_k(x) + shared_experts(x). Tokens are grouped by expert so
// each expert's weights are read once per call. Under --expert-parallel (model/expert_parallel.h)
// the routed experts run on the ranks that hold them.
void moe_forward(const Exec& ex, const ModelConfig& cfg, const MoeWeights& w, const float* x, int64_t T, float* out);

}  // namespace fathom
