// The model's weights as views into the mapped checkpoint, grouped the way the architecture is:
// attention (MLA), dense MLP, MoE (router + routed experts + shared experts), MTP modules.
// Loading validates every tensor the config implies (name, shape, dtype) before anything runs.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "model/config.h"
#include "ops/weight.h"

namespace fathom {

using ops::WeightMatrix;

struct AttentionWeights {
  WeightMatrix q_proj;                // [heads*qk_head_dim, hidden]       (q_lora_rank == 0)
  WeightMatrix q_a_proj;              // [q_lora_rank, hidden]             (q_lora_rank > 0)
  std::vector<float> q_a_layernorm;   // [q_lora_rank]
  WeightMatrix q_b_proj;              // [heads*qk_head_dim, q_lora_rank]
  WeightMatrix kv_a_proj_with_mqa;    // [kv_lora_rank + qk_rope_head_dim, hidden]
  std::vector<float> kv_a_layernorm;  // [kv_lora_rank]
  WeightMatrix kv_b_proj;             // [heads*(qk_nope_head_dim + v_head_dim), kv_lora_rank]
  WeightMatrix o_proj;                // [hidden, heads*v_head_dim]
  // Derived for the fast absorbed path (made by Model::load): kv_b split per head.
  std::shared_ptr<const struct AbsorbedKvB> absorbed;
};

struct MlpWeights {  // SiLU-gated: down(silu(gate(x)) * up(x))
  WeightMatrix gate_proj, up_proj;  // [inter, hidden]
  WeightMatrix down_proj;           // [hidden, inter]
};

struct RouterWeights {
  std::vector<float> weight;                  // [n_routed_experts, hidden], kept f32
  std::vector<float> e_score_correction_bias;  // [n_routed_experts] (noaux_tc only)
};

struct MoeWeights {
  RouterWeights gate;
  std::vector<MlpWeights> experts;  // n_routed_experts
  MlpWeights shared_experts;        // width moe_intermediate_size * n_shared_experts
  bool has_shared = false;
};

struct LayerWeights {
  std::vector<float> input_layernorm, post_attention_layernorm;  // [hidden]
  AttentionWeights attn;
  bool is_moe = false;
  MlpWeights mlp;  // dense layers
  MoeWeights moe;  // MoE layers
};

struct MtpWeights {  // model.layers.{num_hidden_layers + k}.*
  std::vector<float> enorm, hnorm;  // [hidden]
  WeightMatrix eh_proj;             // [hidden, 2*hidden]: input is [enorm(embed); hnorm(h)]
  WeightMatrix embed_tokens;        // own copy in V3 checkpoints; else the model's
  LayerWeights layer;
  std::vector<float> shared_head_norm;
  WeightMatrix shared_head_head;  // [vocab, hidden]
};

struct ModelWeights {
  WeightMatrix embed_tokens;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> norm;    // [hidden]
  WeightMatrix lm_head;       // [vocab, hidden]
  std::vector<MtpWeights> mtp;
  uint64_t bytes = 0;         // weight bytes referenced (for reports)
};

// Validates and binds every tensor the config implies; the checkpoint must outlive the result.
ModelWeights load_weights(const io::Checkpoint& ckpt, const ModelConfig& cfg);

}  // namespace fathom
