// ModelConfig mirrors config.json of DeepseekV2ForCausalLM / DeepseekV3ForCausalLM key for key.
// Every branch in the model reads one of these fields; nothing is inferred from sizes.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace fathom {

struct RopeScaling {
  std::string type;  // "yarn" is the one DeepSeek uses; empty = none
  double factor = 1.0;
  int64_t original_max_position_embeddings = 4096;
  double beta_fast = 32.0, beta_slow = 1.0;
  double mscale = 1.0, mscale_all_dim = 0.0;
};

// config.json's router settings, parsed once (the per-token code switches on these, never on strings).
enum class TopkMethod { Greedy, GroupLimitedGreedy, NoauxTc };  // greedy | group_limited_greedy | noaux_tc
enum class ScoringFunc { Softmax, Sigmoid };                    // softmax | sigmoid
// The config.json spellings, and their inverse (nullopt for anything else).
const char* topk_method_name(TopkMethod m);
const char* scoring_func_name(ScoringFunc f);
std::optional<TopkMethod> parse_topk_method(const std::string& s);
std::optional<ScoringFunc> parse_scoring_func(const std::string& s);

struct QuantizationConfig {
  std::string quant_method;  // "fp8" or empty
  std::string fmt;           // "e4m3"
  std::string activation_scheme;
  int64_t weight_block_size[2] = {128, 128};
};

struct ModelConfig {
  std::string model_type;  // deepseek_v2 | deepseek_v3
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, moe_intermediate_size = 0;
  int64_t num_hidden_layers = 0, num_nextn_predict_layers = 0;
  int64_t num_attention_heads = 0, num_key_value_heads = 0;
  // MoE
  int64_t n_shared_experts = 0;
  int64_t n_routed_experts = 0;  // 0 when config.json has null: every layer dense
  double routed_scaling_factor = 1.0;
  TopkMethod topk_method = TopkMethod::Greedy;
  int64_t n_group = 1, topk_group = 1, num_experts_per_tok = 1;
  int64_t moe_layer_freq = 1, first_k_dense_replace = 0;
  bool norm_topk_prob = false;
  ScoringFunc scoring_func = ScoringFunc::Softmax;
  // MLA
  int64_t q_lora_rank = 0;  // 0 when null: direct q_proj
  int64_t kv_lora_rank = 0, qk_rope_head_dim = 0, v_head_dim = 0, qk_nope_head_dim = 0;
  // Positions and norms
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;
  double rms_norm_eps = 1e-6;
  bool attention_bias = false, tie_word_embeddings = false;
  std::string hidden_act = "silu";
  int64_t bos_token_id = -1, eos_token_id = -1;
  std::string torch_dtype;
  std::optional<QuantizationConfig> quantization_config;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  bool is_moe_layer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  }
  // Scale applied to q·k: 1/sqrt(qk_head_dim), times mscale² under YaRN with mscale_all_dim.
  double softmax_scale() const;
  // Bytes of the MLA latent cache per token (all layers), at `elem_bytes` per value.
  int64_t kv_cache_bytes_per_token(int64_t elem_bytes = 4) const {
    return num_hidden_layers * (kv_lora_rank + qk_rope_head_dim) * elem_bytes;
  }
  // What full multi-head attention would cache: K and V for every head.
  int64_t mha_cache_bytes_per_token(int64_t elem_bytes = 4) const {
    return num_hidden_layers * num_attention_heads * (qk_head_dim() + v_head_dim) * elem_bytes;
  }

  // Parses and validates; `source` names the file in errors.
  static ModelConfig from_json(const nlohmann::json& j, const std::string& source);
  nlohmann::json to_json() const;
};

// YaRN's attention-temperature factor: 0.1 * mscale * ln(scale) + 1 for scale > 1.
double yarn_get_mscale(double scale, double mscale);

}  // namespace fathom
