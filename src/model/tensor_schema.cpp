#include "model/tensor_schema.h"

#include "core/error.h"

namespace fathom {

const char* tensor_role_name(TensorRole r) {
  switch (r) {
    case TensorRole::Matrix: return "matrix";
    case TensorRole::Embedding: return "embedding";
    case TensorRole::Output: return "output";
    case TensorRole::Norm: return "norm";
    case TensorRole::RouterWeight: return "router weight";
    case TensorRole::RouterBias: return "router bias";
  }
  return "?";
}

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorSpec::shape_str() const { return fathom::shape_str(shape); }

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

// Walks the architecture once; each add_* call is one tensor of the checkpoint.
class Schema {
 public:
  Schema(const ModelConfig& c, TensorVisitor& v) : c_(c), v_(v) {}

  void model(ModelWeights& w) {
    const int64_t H = c_.hidden_size, V = c_.vocab_size;
    const std::string embed = "model.embed_tokens.weight";
    add_matrix(w.embed_tokens, embed, V, H, TensorRole::Embedding, false);
    w.layers.resize(c_.num_hidden_layers);
    for (int64_t i = 0; i < c_.num_hidden_layers; ++i) layer(w.layers[i], i);
    add_vector(w.norm, "model.norm.weight", {H}, TensorRole::Norm);
    add_matrix(w.lm_head, "lm_head.weight", V, H, TensorRole::Output, false,
               c_.tie_word_embeddings ? &w.embed_tokens : nullptr, embed);
    w.mtp.resize(c_.num_nextn_predict_layers);
    for (int64_t k = 0; k < c_.num_nextn_predict_layers; ++k) {  // as in the V3 checkpoint (layer 61)
      MtpWeights& m = w.mtp[k];
      const std::string p = prefix(c_.num_hidden_layers + k);
      add_matrix(m.embed_tokens, p + "embed_tokens.weight", V, H, TensorRole::Embedding, false, &w.embed_tokens,
                 embed);
      add_vector(m.enorm, p + "enorm.weight", {H}, TensorRole::Norm);
      add_vector(m.hnorm, p + "hnorm.weight", {H}, TensorRole::Norm);
      add_matrix(m.eh_proj, p + "eh_proj.weight", H, 2 * H, TensorRole::Matrix, false);
      layer(m.layer, c_.num_hidden_layers + k);
      add_vector(m.shared_head_norm, p + "shared_head.norm.weight", {H}, TensorRole::Norm);
      add_matrix(m.shared_head_head, p + "shared_head.head.weight", V, H, TensorRole::Output, false, &w.lm_head,
                 "lm_head.weight");
    }
  }

 private:
  static std::string prefix(int64_t layer) { return "model.layers." + std::to_string(layer) + "."; }

  // Every matrix is quantizable (the router weight is bound as a vector). With a fallback, the
  // field takes the fallback's view when the visitor leaves it empty.
  void add_matrix(WeightMatrix& field, const std::string& name, int64_t rows, int64_t cols, TensorRole role,
                  bool fp8, const WeightMatrix* fallback = nullptr, const std::string& fallback_name = "") {
    TensorSpec t;
    t.expert = expert_;
    t.name = name;
    t.shape = {rows, cols};
    t.role = role;
    t.quantizable = true;
    t.fp8 = fp8;
    t.block_scale = name + "_scale_inv";
    if (fallback) t.fallback = fallback_name;
    v_.matrix(t, field);
    if (field.empty() && fallback) field = *fallback;
  }
  void add_vector(VectorView& field, const std::string& name, std::vector<int64_t> shape, TensorRole role) {
    TensorSpec t;
    t.name = name;
    t.shape = std::move(shape);
    t.role = role;
    if (t.shape.size() == 2) t.block_scale = name + "_scale_inv";  // the router weight
    v_.vector(t, field);
  }
  // A Linear weight of a decoder layer: FP8 in DeepSeek's release.
  void add_linear(WeightMatrix& field, const std::string& name, int64_t rows, int64_t cols) {
    add_matrix(field, name, rows, cols, TensorRole::Matrix, true);
  }

  void mlp(MlpWeights& m, const std::string& p, int64_t inter) {
    const int64_t H = c_.hidden_size;
    add_linear(m.gate_proj, p + "gate_proj.weight", inter, H);
    add_linear(m.up_proj, p + "up_proj.weight", inter, H);
    add_linear(m.down_proj, p + "down_proj.weight", H, inter);
  }

  void layer(LayerWeights& L, int64_t i) {
    const std::string p = prefix(i), ap = p + "self_attn.";
    const int64_t H = c_.hidden_size, nh = c_.num_attention_heads;
    add_vector(L.input_layernorm, p + "input_layernorm.weight", {H}, TensorRole::Norm);
    AttentionWeights& a = L.attn;
    if (c_.q_lora_rank > 0) {
      add_linear(a.q_a_proj, ap + "q_a_proj.weight", c_.q_lora_rank, H);
      add_vector(a.q_a_layernorm, ap + "q_a_layernorm.weight", {c_.q_lora_rank}, TensorRole::Norm);
      add_linear(a.q_b_proj, ap + "q_b_proj.weight", nh * c_.qk_head_dim(), c_.q_lora_rank);
    } else {
      add_linear(a.q_proj, ap + "q_proj.weight", nh * c_.qk_head_dim(), H);
    }
    add_linear(a.kv_a_proj_with_mqa, ap + "kv_a_proj_with_mqa.weight", c_.kv_lora_rank + c_.qk_rope_head_dim, H);
    add_vector(a.kv_a_layernorm, ap + "kv_a_layernorm.weight", {c_.kv_lora_rank}, TensorRole::Norm);
    add_linear(a.kv_b_proj, ap + "kv_b_proj.weight", nh * (c_.qk_nope_head_dim + c_.v_head_dim), c_.kv_lora_rank);
    add_linear(a.o_proj, ap + "o_proj.weight", H, nh * c_.v_head_dim);
    add_vector(L.post_attention_layernorm, p + "post_attention_layernorm.weight", {H}, TensorRole::Norm);

    L.is_moe = c_.is_moe_layer(i);
    if (!L.is_moe) {
      mlp(L.mlp, p + "mlp.", c_.intermediate_size);
      return;
    }
    MoeWeights& m = L.moe;
    add_vector(m.gate.weight, p + "mlp.gate.weight", {c_.n_routed_experts, H}, TensorRole::RouterWeight);
    if (c_.topk_method == TopkMethod::NoauxTc)
      add_vector(m.gate.e_score_correction_bias, p + "mlp.gate.e_score_correction_bias", {c_.n_routed_experts},
                 TensorRole::RouterBias);
    m.experts.resize(c_.n_routed_experts);
    for (int64_t e = 0; e < c_.n_routed_experts; ++e) {
      expert_ = int32_t(e);
      mlp(m.experts[e], p + "mlp.experts." + std::to_string(e) + ".", c_.moe_intermediate_size);
      expert_ = -1;
    }
    m.has_shared = c_.n_shared_experts > 0;
    if (m.has_shared) mlp(m.shared_experts, p + "mlp.shared_experts.", c_.moe_intermediate_size * c_.n_shared_experts);
  }

  const ModelConfig& c_;
  TensorVisitor& v_;
  int32_t expert_ = -1;  // the routed expert whose tensors are being visited
};

class Lister : public TensorVisitor {
 public:
  explicit Lister(std::vector<TensorSpec>& out) : out_(out) {}
  void matrix(const TensorSpec& t, WeightMatrix&) override { out_.push_back(t); }
  void vector(const TensorSpec& t, VectorView&) override { out_.push_back(t); }

 private:
  std::vector<TensorSpec>& out_;
};

}  // namespace

void visit_tensors(const ModelConfig& cfg, ModelWeights& w, TensorVisitor& visitor) {
  Schema(cfg, visitor).model(w);
}

std::vector<TensorSpec> tensor_specs(const ModelConfig& cfg) {
  std::vector<TensorSpec> out;
  ModelWeights unbound;
  Lister lister(out);
  visit_tensors(cfg, unbound, lister);
  return out;
}

uint64_t tensor_seed(uint64_t seed, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, 64-bit: offset basis and prime
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001b3ull;
  return seed * 0x9E3779B97F4A7C15ull ^ h;
}

}  // namespace fathom
