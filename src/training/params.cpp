#include "training/params.h"

#include <cmath>
#include <functional>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

namespace fathom::train {

namespace {

// Visits every tensor in checkpoint order, giving each its offset; sets the views when base != null.
class Walker {
 public:
  Walker(const ModelConfig& c, float* base, std::vector<ParamTensor>* list) : c_(c), base_(base), list_(list) {}

  ModelParams model() {
    const int64_t H = c_.hidden_size, V = c_.vocab_size;
    ModelParams m;
    m.embed_tokens = add("model.embed_tokens.weight", {V, H}, ParamKind::Embedding);
    for (int64_t i = 0; i < c_.num_hidden_layers; ++i) m.layers.push_back(layer(i));
    m.norm = add("model.norm.weight", {H}, ParamKind::Norm);
    m.lm_head = c_.tie_word_embeddings ? m.embed_tokens : add("lm_head.weight", {V, H}, ParamKind::Matrix);
    for (int64_t k = 0; k < c_.num_nextn_predict_layers; ++k) {
      const int64_t i = c_.num_hidden_layers + k;
      const std::string p = "model.layers." + std::to_string(i) + ".";
      MtpParams t;
      t.enorm = add(p + "enorm.weight", {H}, ParamKind::Norm);
      t.hnorm = add(p + "hnorm.weight", {H}, ParamKind::Norm);
      t.eh_proj = add(p + "eh_proj.weight", {H, 2 * H}, ParamKind::Matrix);
      t.layer = layer(i);
      t.shared_head_norm = add(p + "shared_head.norm.weight", {H}, ParamKind::Norm);
      m.mtp.push_back(std::move(t));
    }
    return m;
  }
  int64_t total() const { return off_; }

 private:
  float* add(const std::string& name, std::vector<int64_t> shape, ParamKind kind) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (list_) list_->push_back({name, shape, off_, n, kind});
    float* p = base_ ? base_ + off_ : nullptr;
    off_ += n;
    return p;
  }
  MlpParams mlp(const std::string& p, int64_t inter) {
    const int64_t H = c_.hidden_size;
    MlpParams m;
    m.inter = inter;
    m.gate_proj = add(p + "gate_proj.weight", {inter, H}, ParamKind::Matrix);
    m.up_proj = add(p + "up_proj.weight", {inter, H}, ParamKind::Matrix);
    m.down_proj = add(p + "down_proj.weight", {H, inter}, ParamKind::Matrix);
    return m;
  }
  LayerParams layer(int64_t i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const int64_t H = c_.hidden_size, nh = c_.num_attention_heads;
    LayerParams L;
    L.input_layernorm = add(p + "input_layernorm.weight", {H}, ParamKind::Norm);
    AttnParams& a = L.attn;
    const std::string ap = p + "self_attn.";
    if (c_.q_lora_rank > 0) {
      a.q_a_proj = add(ap + "q_a_proj.weight", {c_.q_lora_rank, H}, ParamKind::Matrix);
      a.q_a_layernorm = add(ap + "q_a_layernorm.weight", {c_.q_lora_rank}, ParamKind::Norm);
      a.q_b_proj = add(ap + "q_b_proj.weight", {nh * c_.qk_head_dim(), c_.q_lora_rank}, ParamKind::Matrix);
    } else {
      a.q_proj = add(ap + "q_proj.weight", {nh * c_.qk_head_dim(), H}, ParamKind::Matrix);
    }
    a.kv_a_proj_with_mqa =
        add(ap + "kv_a_proj_with_mqa.weight", {c_.kv_lora_rank + c_.qk_rope_head_dim, H}, ParamKind::Matrix);
    a.kv_a_layernorm = add(ap + "kv_a_layernorm.weight", {c_.kv_lora_rank}, ParamKind::Norm);
    a.kv_b_proj = add(ap + "kv_b_proj.weight", {nh * (c_.qk_nope_head_dim + c_.v_head_dim), c_.kv_lora_rank},
                      ParamKind::Matrix);
    a.o_proj = add(ap + "o_proj.weight", {H, nh * c_.v_head_dim}, ParamKind::Matrix);
    L.post_attention_layernorm = add(p + "post_attention_layernorm.weight", {H}, ParamKind::Norm);
    L.is_moe = c_.is_moe_layer(i);
    if (!L.is_moe) {
      L.mlp = mlp(p + "mlp.", c_.intermediate_size);
      return L;
    }
    MoeParams& m = L.moe;
    m.gate = add(p + "mlp.gate.weight", {c_.n_routed_experts, H}, ParamKind::Matrix);
    if (c_.topk_method == TopkMethod::NoauxTc)
      m.bias = add(p + "mlp.gate.e_score_correction_bias", {c_.n_routed_experts}, ParamKind::RouterBias);
    for (int64_t e = 0; e < c_.n_routed_experts; ++e)
      m.experts.push_back(mlp(p + "mlp.experts." + std::to_string(e) + ".", c_.moe_intermediate_size));
    m.has_shared = c_.n_shared_experts > 0;
    if (m.has_shared) m.shared = mlp(p + "mlp.shared_experts.", c_.moe_intermediate_size * c_.n_shared_experts);
    return L;
  }

  const ModelConfig& c_;
  float* base_;
  std::vector<ParamTensor>* list_;
  int64_t off_ = 0;
};

// splitmix64 stream per (seed, name), so a tensor's values do not depend on the others.
struct Rng {
  uint64_t s;
  Rng(uint64_t seed, const std::string& name) : s(seed * 0x9E3779B97F4A7C15ull ^ std::hash<std::string>{}(name)) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (double(next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
  double normal() { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * M_PI * uniform()); }
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ParamLayout::ParamLayout(const ModelConfig& cfg) : cfg_(cfg) {
  if (cfg.quantization_config) fail("fathom train: quantized configs (quantization_config) cannot be trained");
  Walker w(cfg_, nullptr, &tensors_);
  w.model();
  numel_ = w.total();
}

ModelParams ParamLayout::bind(float* base) const {
  Walker w(cfg_, base, nullptr);
  return w.model();
}

const ParamTensor* ParamLayout::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

void init_params(const ParamLayout& layout, float* params, uint64_t seed) {
  const double std_base = 0.02;
  const double std_resid = std_base / std::sqrt(2.0 * double(std::max<int64_t>(1, layout.config().num_hidden_layers)));
  for (const ParamTensor& t : layout.tensors()) {
    float* p = params + t.offset;
    Rng rng(seed, t.name);
    switch (t.kind) {
      case ParamKind::Norm: std::fill(p, p + t.numel, 1.0f); break;
      case ParamKind::RouterBias: std::fill(p, p + t.numel, 0.0f); break;
      case ParamKind::Embedding:
      case ParamKind::Matrix: {
        const bool resid = ends_with(t.name, "o_proj.weight") || ends_with(t.name, "down_proj.weight");
        const double sd = resid ? std_resid : std_base;
        for (int64_t i = 0; i < t.numel; ++i) p[i] = float(sd * rng.normal());
        break;
      }
    }
  }
}

void load_params(const ParamLayout& layout, float* params, const std::string& dir) {
  io::Checkpoint ckpt(dir);
  for (const ParamTensor& t : layout.tensors()) {
    std::string expect = "[";
    for (size_t i = 0; i < t.shape.size(); ++i) expect += (i ? ", " : "") + std::to_string(t.shape[i]);
    expect += "]";
    const io::TensorView& v = ckpt.get(t.name, expect);
    if (v.shape != t.shape) fail("{}: tensor '{}' has shape {}, expected {}", *v.file, t.name, v.shape_str(), expect);
    if (v.dtype != DType::F32 && v.dtype != DType::BF16 && v.dtype != DType::F16)
      fail("{}: tensor '{}' has dtype {}; fathom train loads F32, BF16 or F16", *v.file, t.name, dtype_name(v.dtype));
    to_f32(v.dtype, v.data, params + t.offset, size_t(t.numel));
  }
}

void save_params(const ParamLayout& layout, const float* params, const std::string& path, bool bf16,
                 const std::vector<std::pair<std::string, std::string>>& metadata) {
  io::SafetensorsWriter w(path);
  w.set_metadata("format", "pt");
  for (auto& [k, v] : metadata) w.set_metadata(k, v);
  auto dtype_of = [&](const ParamTensor& t) { return bf16 && t.kind != ParamKind::RouterBias ? DType::BF16 : DType::F32; };
  for (const ParamTensor& t : layout.tensors()) w.add(t.name, dtype_of(t), t.shape);
  w.begin();
  std::vector<uint16_t> half;
  for (const ParamTensor& t : layout.tensors()) {
    const float* p = params + t.offset;
    if (dtype_of(t) == DType::F32) {
      w.write(t.name, p, size_t(t.numel) * 4);
    } else {
      half.resize(t.numel);
      for (int64_t i = 0; i < t.numel; ++i) half[i] = f32_to_bf16(p[i]);
      w.write(t.name, half.data(), half.size() * 2);
    }
  }
  w.finish();
}

}  // namespace fathom::train
