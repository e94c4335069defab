// Trainable parameters: every tensor of a DeepSeek checkpoint under its Hugging Face name, laid
// out back to back in one f32 buffer. The same layout serves the parameters, their gradients and
// AdamW's two moments: bind(base) gives named views into any buffer of layout.numel() floats.
//
// The MTP modules share the main model's embedding and output head (DeepSeek-V3 §2.2), so their
// embed_tokens / shared_head.head are not separate tensors here; fathom's loader falls back to the
// main model's when a checkpoint omits them. e_score_correction_bias lives in the buffer (it is
// saved with the model) but is not trained by gradients: the balancing rule updates it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace fathom::train {

enum class ParamKind { Matrix, Embedding, Norm, RouterBias };

struct ParamTensor {
  std::string name;  // Hugging Face name, e.g. model.layers.0.self_attn.kv_b_proj.weight
  std::vector<int64_t> shape;
  int64_t offset = 0, numel = 0;  // in floats, within the buffer
  ParamKind kind = ParamKind::Matrix;
};

struct MlpParams {  // down(silu(gate(x)) * up(x))
  float *gate_proj = nullptr, *up_proj = nullptr;  // [inter, hidden]
  float* down_proj = nullptr;                      // [hidden, inter]
  int64_t inter = 0;
};

struct AttnParams {
  float* q_proj = nullptr;                                       // [nh*dq, H]      (q_lora_rank == 0)
  float *q_a_proj = nullptr, *q_a_layernorm = nullptr, *q_b_proj = nullptr;  // [qr,H], [qr], [nh*dq,qr]
  float* kv_a_proj_with_mqa = nullptr;                           // [r + dr, H]
  float* kv_a_layernorm = nullptr;                               // [r]
  float* kv_b_proj = nullptr;                                    // [nh*(dn+dv), r]
  float* o_proj = nullptr;                                       // [H, nh*dv]
};

struct MoeParams {
  float* gate = nullptr;  // [E, H]
  float* bias = nullptr;  // [E] e_score_correction_bias (noaux_tc), selection only
  std::vector<MlpParams> experts;
  MlpParams shared;
  bool has_shared = false;
};

struct LayerParams {
  float *input_layernorm = nullptr, *post_attention_layernorm = nullptr;
  AttnParams attn;
  bool is_moe = false;
  MlpParams mlp;
  MoeParams moe;
};

struct MtpParams {  // model.layers.{num_hidden_layers + k}.*
  float *enorm = nullptr, *hnorm = nullptr;
  float* eh_proj = nullptr;  // [H, 2H]: input [enorm(embed); hnorm(h)]
  LayerParams layer;
  float* shared_head_norm = nullptr;
};

struct ModelParams {
  float* embed_tokens = nullptr;  // [V, H]
  std::vector<LayerParams> layers;
  float* norm = nullptr;
  float* lm_head = nullptr;  // [V, H]; equals embed_tokens when tie_word_embeddings
  std::vector<MtpParams> mtp;
};

class ParamLayout {
 public:
  explicit ParamLayout(const ModelConfig& cfg);
  const ModelConfig& config() const { return cfg_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  int64_t numel() const { return numel_; }
  ModelParams bind(float* base) const;
  const ParamTensor* find(const std::string& name) const;

 private:
  ModelConfig cfg_;
  std::vector<ParamTensor> tensors_;
  int64_t numel_ = 0;
};

// Random initialisation, a function of (seed, tensor name) only: matrices and embeddings
// N(0, 0.02²), o_proj and down_proj N(0, (0.02/√(2·layers))²) (GPT-2's residual scaling), norms 1,
// router bias 0.
void init_params(const ParamLayout& layout, float* params, uint64_t seed);

// Reads every tensor from a Hugging Face checkpoint directory (F32/BF16/F16) into params.
void load_params(const ParamLayout& layout, float* params, const std::string& dir);

// Writes DIR_FILE (a .safetensors) with every tensor; dtype F32 or BF16 (router bias always F32).
void save_params(const ParamLayout& layout, const float* params, const std::string& path, bool bf16,
                 const std::vector<std::pair<std::string, std::string>>& metadata = {});

}  // namespace fathom::train
