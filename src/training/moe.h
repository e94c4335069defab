// Feed-forward layers for training: the SiLU-gated MLP and DeepSeekMoE (DeepSeek-V3 §2.1.2).
//   s      = sigmoid(x · gateᵀ)  (or softmax, scoring_func)              [N, E]
//   chosen = top-k of s + e_score_correction_bias (noaux_tc; the bias only selects), weights
//            g = s[chosen] (/ Σ g if norm_topk_prob) · routed_scaling_factor — scoring and
//            selection are model/router.h's (the one definition, shared with inference)
//   out    = shared_experts(x) + Σ_k g_k expert_k(x)
// Gradients reach the router through the selected weights g (the selection itself is discrete).
// Sequence-wise balance loss (eqs. 17-20), averaged over the B sequences:
//   L_bal = α Σ_i f_i P_i,  f_i = E/(K T) Σ_t 1[i ∈ chosen(t)],  P_i = 1/T Σ_t s_{i,t} / Σ_j s_{j,t}
#pragma once
#include "training/layer.h"
#include "training/params.h"

namespace fathom::train {

struct MlpActs {
  float *g = nullptr, *u = nullptr, *a = nullptr;  // [rows, inter]: gate, up, silu(g)*u
  // The dense and shared MLPs keep down_proj's input a with keep_input (a is then KeptF32); the
  // routed experts, which run on row ranges of one buffer (rows_from), keep it as f32.
  bool keep_a = false;
  LowpMatrix a_tiles;
  LinearIn a_in;  // down_proj's input as the last forward kept it (keep_a)
  // kept: non-null for a kept a.
  void declare(Arena& arena, int64_t rows, int64_t inter, const KeptF32* kept = nullptr);
  MlpActs rows_from(int64_t row, int64_t inter) const {
    MlpActs r;
    r.g = g + row * inter;
    r.u = u + row * inter;
    r.a = a + row * inter;
    return r;
  }
};

// out[N, H] = down(silu(gate(inp)) * up(inp)) for N rows.
void mlp_forward(const LayerCtx& ctx, float* out, MlpActs& acts, const LinearIn& inp, const MlpWeights& weight,
                 int64_t N);
void mlp_backward(const LayerCtx& ctx, float* dinp, MlpWeights& dweight, const float* dout, const MlpActs& acts,
                  const LinearIn& inp, const MlpWeights& weight, int64_t N);

struct MoeActs {
  float* scores = nullptr;      // [N, E] after scoring_func
  int32_t* chosen = nullptr;    // [N, K] in selection order
  float* weight = nullptr;      // [N, K] gate weights g
  float* sel_sum = nullptr;     // [N] Σ chosen scores + 1e-20 (the norm_topk_prob denominator)
  int32_t* count = nullptr;     // [E] this rank's tokens routed to each expert (this step's load)
  int32_t* offset = nullptr;    // [E + 1] each expert's slot range
  int32_t* slot = nullptr;      // [N, K] the slot of (token, k)
  int32_t* slot_token = nullptr;  // [N*K]
  float *xs = nullptr, *y = nullptr;  // [N*K, H] gathered inputs, expert outputs, in slot order
  // The rows this rank's experts run, expert-major: expert e's are [e_offset[e], e_offset[e+1]).
  // One process: the slots themselves (xe = xs, ye = y). Expert parallel (expert_exchange.h): the
  // rows every rank sent to this rank's experts, ordered by expert, then sending rank, then the
  // sender's slot order, which is one process's order over the global batch.
  int32_t* e_offset = nullptr;    // [E + 1]
  int32_t* recv_count = nullptr;  // [ranks, E] expert parallel: rows of each expert from each rank
  float *xe = nullptr, *ye = nullptr;  // [rows, H]
  MlpActs experts;              // [rows, moe_inter]
  MlpActs shared;               // [N, moe_inter * n_shared]
  double balance_loss = 0;      // L_bal of this layer (α included)
  void declare(Arena& a, const ModelConfig& c, int64_t N, const KeptF32& kept = {}, const ExpertShard& shard = {});
};

// The most expert rows one rank may run in a layer for N local tokens: N·K in one process; under
// expert parallelism every rank's tokens may choose this rank's experts.
int64_t expert_rows(const ModelConfig& c, int64_t N, const ExpertShard& shard);

// Declares the MLP and MoE backward scratch for N token rows.
void ffn_declare_scratch(Arena& a, Scratch& s, const ModelConfig& c, int64_t N, const ExpertShard& shard = {});

void moe_forward(const LayerCtx& ctx, float* out, MoeActs& acts, const float* inp, const MoeWeights& weight);
// Includes the balance loss's gradient (ctx.balance_alpha) into the router.
void moe_backward(const LayerCtx& ctx, float* dinp, MoeWeights& dweight, const float* dout, const MoeActs& acts,
                  const float* inp, const MoeWeights& weight);

}  // namespace fathom::train
