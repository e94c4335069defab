#include "model/config.h"

#include <cmath>

#include "core/error.h"
#include "core/json.h"

namespace fathom {

using nlohmann::json;

double yarn_get_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

double ModelConfig::softmax_scale() const {
  double s = 1.0 / std::sqrt(double(qk_head_dim()));
  if (rope_scaling && rope_scaling->mscale_all_dim != 0.0) {
    double m = yarn_get_mscale(rope_scaling->factor, rope_scaling->mscale_all_dim);
    s *= m * m;
  }
  return s;
}

const char* topk_method_name(TopkMethod m) {
  switch (m) {
    case TopkMethod::Greedy: return "greedy";
    case TopkMethod::GroupLimitedGreedy: return "group_limited_greedy";
    case TopkMethod::NoauxTc: return "noaux_tc";
  }
  return "?";
}

const char* scoring_func_name(ScoringFunc f) { return f == ScoringFunc::Sigmoid ? "sigmoid" : "softmax"; }

std::optional<TopkMethod> parse_topk_method(const std::string& s) {
  for (TopkMethod m : {TopkMethod::Greedy, TopkMethod::GroupLimitedGreedy, TopkMethod::NoauxTc})
    if (s == topk_method_name(m)) return m;
  return std::nullopt;
}

std::optional<ScoringFunc> parse_scoring_func(const std::string& s) {
  for (ScoringFunc f : {ScoringFunc::Softmax, ScoringFunc::Sigmoid})
    if (s == scoring_func_name(f)) return f;
  return std::nullopt;
}

namespace {

// Typed fields with messages naming the file and the field; a wrong value is described briefly
// (describe_json), never dumped whole into the message.
struct Reader {
  const json& j;
  const std::string& src;
  std::string prefix = "";  // "rope_scaling." for a nested object

  [[noreturn]] void bad(const std::string& key, const std::string& why) const {
    fail("{}: field '{}{}' {}", src, prefix, key, why);
  }
  bool has(const std::string& k) const { return j.contains(k) && !j[k].is_null(); }
  int64_t integer(const std::string& k, int64_t def, bool required = false) const {
    if (!has(k)) {
      if (required) bad(k, "is required");
      return def;
    }
    if (!j[k].is_number_integer()) bad(k, "must be an integer, got " + describe_json(j[k]));
    return j[k].get<int64_t>();
  }
  double number(const std::string& k, double def) const {
    if (!has(k)) return def;
    if (!j[k].is_number()) bad(k, "must be a number, got " + describe_json(j[k]));
    return j[k].get<double>();
  }
  bool boolean(const std::string& k, bool def) const {
    if (!has(k)) return def;
    if (!j[k].is_boolean()) bad(k, "must be true or false, got " + describe_json(j[k]));
    return j[k].get<bool>();
  }
  std::string string(const std::string& k, const std::string& def) const {
    if (!has(k)) return def;
    if (!j[k].is_string()) bad(k, "must be a string, got " + describe_json(j[k]));
    return j[k].get<std::string>();
  }
};

}  // namespace

ModelConfig ModelConfig::from_json(const json& j, const std::string& src) {
  Reader r{j, src};
  ModelConfig c;
  c.model_type = r.string("model_type", "");
  if (c.model_type != "deepseek_v2" && c.model_type != "deepseek_v3")
    fail("{}: unsupported model_type '{}' (fathom runs deepseek_v2 and deepseek_v3)", src, c.model_type);
  c.vocab_size = r.integer("vocab_size", 0, true);
  c.hidden_size = r.integer("hidden_size", 0, true);
  c.intermediate_size = r.integer("intermediate_size", 0, true);
  c.moe_intermediate_size = r.integer("moe_intermediate_size", 0);
  c.num_hidden_layers = r.integer("num_hidden_layers", 0, true);
  c.num_nextn_predict_layers = r.integer("num_nextn_predict_layers", 0);
  c.num_attention_heads = r.integer("num_attention_heads", 0, true);
  c.num_key_value_heads = r.integer("num_key_value_heads", c.num_attention_heads);
  c.n_shared_experts = r.integer("n_shared_experts", 0);
  c.n_routed_experts = r.integer("n_routed_experts", 0);
  c.routed_scaling_factor = r.number("routed_scaling_factor", 1.0);
  // Router settings become enums here, once; an unknown value is an error for a MoE model (below).
  const std::string topk_method = r.string("topk_method", c.model_type == "deepseek_v3" ? "noaux_tc" : "greedy");
  const std::optional<TopkMethod> method = parse_topk_method(topk_method);
  if (method) c.topk_method = *method;
  c.n_group = r.integer("n_group", 1);
  c.topk_group = r.integer("topk_group", 1);
  c.num_experts_per_tok = r.integer("num_experts_per_tok", c.n_routed_experts ? 1 : 0);
  c.moe_layer_freq = r.integer("moe_layer_freq", 1);
  c.first_k_dense_replace = r.integer("first_k_dense_replace", 0);
  c.norm_topk_prob = r.boolean("norm_topk_prob", false);
  const std::string scoring_func = r.string("scoring_func", c.model_type == "deepseek_v3" ? "sigmoid" : "softmax");
  const std::optional<ScoringFunc> scoring = parse_scoring_func(scoring_func);
  if (scoring) c.scoring_func = *scoring;
  c.q_lora_rank = r.integer("q_lora_rank", 0);
  c.kv_lora_rank = r.integer("kv_lora_rank", 0, true);
  c.qk_rope_head_dim = r.integer("qk_rope_head_dim", 0, true);
  c.v_head_dim = r.integer("v_head_dim", 0, true);
  c.qk_nope_head_dim = r.integer("qk_nope_head_dim", 0, true);
  c.max_position_embeddings = r.integer("max_position_embeddings", 4096);
  c.rope_theta = r.number("rope_theta", 10000.0);
  c.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
  c.attention_bias = r.boolean("attention_bias", false);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  c.hidden_act = r.string("hidden_act", "silu");
  c.torch_dtype = r.string("torch_dtype", "");
  if (r.has("bos_token_id") && j["bos_token_id"].is_number_integer()) c.bos_token_id = j["bos_token_id"];
  if (r.has("eos_token_id") && j["eos_token_id"].is_number_integer()) c.eos_token_id = j["eos_token_id"];

  if (r.has("rope_scaling")) {
    const json& rs = j["rope_scaling"];
    if (!rs.is_object()) r.bad("rope_scaling", "must be an object or null");
    Reader q{rs, src, "rope_scaling."};
    RopeScaling s;
    s.type = q.string("type", q.string("rope_type", ""));
    if (s.type != "yarn")
      fail("{}: rope_scaling type '{}' is not supported (DeepSeek models use 'yarn')", src, s.type);
    s.factor = q.number("factor", 1.0);
    s.original_max_position_embeddings = q.integer("original_max_position_embeddings", 4096);
    s.beta_fast = q.number("beta_fast", 32.0);
    s.beta_slow = q.number("beta_slow", 1.0);
    s.mscale = q.number("mscale", 1.0);
    s.mscale_all_dim = q.number("mscale_all_dim", 0.0);
    if (!(s.factor > 0)) fail("{}: rope_scaling.factor must be positive", src);
    c.rope_scaling = s;
  }
  if (r.has("quantization_config")) {
    const json& qc = j["quantization_config"];
    Reader q{qc, src, "quantization_config."};
    QuantizationConfig s;
    s.quant_method = q.string("quant_method", "");
    s.fmt = q.string("fmt", "e4m3");
    s.activation_scheme = q.string("activation_scheme", "dynamic");
    if (s.quant_method != "fp8")
      fail("{}: quantization_config.quant_method '{}' is not supported (fp8 is)", src, s.quant_method);
    if (qc.contains("weight_block_size")) {
      auto& b = qc["weight_block_size"];
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer() ||
          b[0].get<int64_t>() <= 0 || b[1].get<int64_t>() <= 0)
        fail("{}: quantization_config.weight_block_size must be [rows, cols]", src);
      s.weight_block_size[0] = b[0];
      s.weight_block_size[1] = b[1];
    }
    c.quantization_config = s;
  }

  // Validation: everything the model will index by must be positive and consistent.
  auto positive = [&](const char* k, int64_t v) {
    if (v <= 0) r.bad(k, "must be positive, got " + std::to_string(v));
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("num_hidden_layers", c.num_hidden_layers);
  positive("num_attention_heads", c.num_attention_heads);
  positive("kv_lora_rank", c.kv_lora_rank);
  positive("qk_nope_head_dim", c.qk_nope_head_dim);
  positive("v_head_dim", c.v_head_dim);
  positive("qk_rope_head_dim", c.qk_rope_head_dim);
  if (c.qk_rope_head_dim % 2) r.bad("qk_rope_head_dim", "must be even (RoPE rotates pairs)");
  if (c.q_lora_rank < 0) r.bad("q_lora_rank", "must be positive or null");
  if (c.num_nextn_predict_layers < 0) r.bad("num_nextn_predict_layers", "must be >= 0");
  if (c.hidden_act != "silu") r.bad("hidden_act", "'" + c.hidden_act + "' is not supported (silu is)");
  if (c.attention_bias) r.bad("attention_bias", "true is not supported (DeepSeek models have no attention bias)");
  if (c.n_routed_experts < 0) r.bad("n_routed_experts", "must be >= 0");
  if (c.n_routed_experts > 0) {
    positive("moe_intermediate_size", c.moe_intermediate_size);
    positive("num_experts_per_tok", c.num_experts_per_tok);
    positive("moe_layer_freq", c.moe_layer_freq);
    positive("n_group", c.n_group);
    positive("topk_group", c.topk_group);
    if (c.num_experts_per_tok > c.n_routed_experts) r.bad("num_experts_per_tok", "exceeds n_routed_experts");
    if (!method) r.bad("topk_method", "'" + topk_method + "' is not one of greedy, group_limited_greedy, noaux_tc");
    if (!scoring) r.bad("scoring_func", "'" + scoring_func + "' is not one of softmax, sigmoid");
    if (c.n_routed_experts % c.n_group) r.bad("n_group", "must divide n_routed_experts");
    if (c.topk_group > c.n_group) r.bad("topk_group", "exceeds n_group");
    if (c.topk_method != TopkMethod::Greedy &&
        c.topk_group * (c.n_routed_experts / c.n_group) < c.num_experts_per_tok)
      r.bad("topk_group", "keeps fewer experts than num_experts_per_tok");
    if (c.topk_method == TopkMethod::NoauxTc && c.n_routed_experts / c.n_group < 2)
      r.bad("n_group", "noaux_tc scores each group by its top-2 experts: groups need >= 2 experts");
  }
  if (c.first_k_dense_replace < 0) r.bad("first_k_dense_replace", "must be >= 0");
  return c;
}

json ModelConfig::to_json() const {
  json j;
  j["architectures"] = {model_type == "deepseek_v3" ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM"};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["moe_intermediate_size"] = moe_intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  if (model_type == "deepseek_v3") j["num_nextn_predict_layers"] = num_nextn_predict_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["n_shared_experts"] = n_shared_experts;
  j["n_routed_experts"] = n_routed_experts ? json(n_routed_experts) : json(nullptr);
  j["routed_scaling_factor"] = routed_scaling_factor;
  j["topk_method"] = topk_method_name(topk_method);
  j["n_group"] = n_group;
  j["topk_group"] = topk_group;
  j["num_experts_per_tok"] = num_experts_per_tok;
  j["moe_layer_freq"] = moe_layer_freq;
  j["first_k_dense_replace"] = first_k_dense_replace;
  j["norm_topk_prob"] = norm_topk_prob;
  j["scoring_func"] = scoring_func_name(scoring_func);
  j["q_lora_rank"] = q_lora_rank ? json(q_lora_rank) : json(nullptr);
  j["kv_lora_rank"] = kv_lora_rank;
  j["qk_rope_head_dim"] = qk_rope_head_dim;
  j["v_head_dim"] = v_head_dim;
  j["qk_nope_head_dim"] = qk_nope_head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rope_theta"] = rope_theta;
  if (rope_scaling) {
    auto& s = *rope_scaling;
    j["rope_scaling"] = {{"type", s.type}, {"factor", s.factor},
                         {"original_max_position_embeddings", s.original_max_position_embeddings},
                         {"beta_fast", s.beta_fast}, {"beta_slow", s.beta_slow},
                         {"mscale", s.mscale}, {"mscale_all_dim", s.mscale_all_dim}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["rms_norm_eps"] = rms_norm_eps;
  j["attention_bias"] = attention_bias;
  j["attention_dropout"] = 0.0;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["hidden_act"] = hidden_act;
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;
  if (bos_token_id >= 0) j["bos_token_id"] = bos_token_id;
  if (eos_token_id >= 0) j["eos_token_id"] = eos_token_id;
  if (!torch_dtype.empty()) j["torch_dtype"] = torch_dtype;
  if (quantization_config) {
    auto& q = *quantization_config;
    j["quantization_config"] = {{"quant_method", q.quant_method}, {"fmt", q.fmt},
                                {"activation_scheme", q.activation_scheme},
                                {"weight_block_size", {q.weight_block_size[0], q.weight_block_size[1]}}};
  }
  return j;
}

}  // namespace fathom
