#include "model/weights.h"

#include "core/error.h"
#include "model/quantize.h"

namespace fathom {

namespace {

class Binder {
 public:
  Binder(const io::Checkpoint& ckpt, const ModelConfig& cfg) : ckpt_(ckpt), cfg_(cfg) {}

  // A 2-D matrix [rows, cols] in any float format; F8_E4M3 needs NAME_scale_inv block scales.
  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) {
    const std::string expect = fmt::format("[{}, {}]", rows, cols);
    const io::TensorView& t = ckpt_.get(name, expect);
    WeightMatrix w;
    if (t.dtype == DType::U8) return quantized(t, rows, cols);
    check_shape(t, {rows, cols});
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    bytes_ += t.nbytes;
    switch (t.dtype) {
      case DType::F32: w.format = ops::WFormat::F32; break;
      case DType::F16: w.format = ops::WFormat::F16; break;
      case DType::BF16: w.format = ops::WFormat::BF16; break;
      case DType::F8_E5M2: w.format = ops::WFormat::F8_E5M2; break;
      case DType::F8_E4M3: {
        w.format = ops::WFormat::F8_E4M3;
        if (cfg_.quantization_config) {
          w.block_rows = cfg_.quantization_config->weight_block_size[0];
          w.block_cols = cfg_.quantization_config->weight_block_size[1];
        }
        const int64_t sr = (rows + w.block_rows - 1) / w.block_rows, sc = (cols + w.block_cols - 1) / w.block_cols;
        const std::string sname = name + "_scale_inv";
        const io::TensorView& s = ckpt_.get(
            sname, fmt::format("F32 [{}, {}]: block scales of the F8_E4M3 weight {}", sr, sc, name));
        if (s.dtype != DType::F32)
          fail("{}: tensor '{}' has dtype {}, expected F32", *s.file, sname, dtype_name(s.dtype));
        check_shape(s, {sr, sc});
        w.scale_inv = reinterpret_cast<const float*>(s.data);
        bytes_ += s.nbytes;
        break;
      }
      default:
        fail("{}: tensor '{}' has dtype {}, expected one of F32, BF16, F16, F8_E4M3, F8_E5M2", *t.file, name,
             dtype_name(t.dtype));
    }
    return w;
  }

  // A block-quantized matrix written by fathom quantize (src/model/quantize.h).
  WeightMatrix quantized(const io::TensorView& t, int64_t rows, int64_t cols) {
    const SafetensorsFileRef shard = shard_of(t);
    auto it = shard->metadata().find(quant_metadata_key(t.name));
    if (it == shard->metadata().end())
      fail("{}: tensor '{}' is U8 but the file's metadata does not say how it is quantized", *t.file, t.name);
    const std::string& v = it->second;
    WeightMatrix w;
    const size_t colon = v.find(':');
    const std::string kind = v.substr(0, colon), shape = colon == std::string::npos ? "" : v.substr(colon + 1);
    if (kind == quant_layout_tag(ops::WFormat::Q8_0)) w.format = ops::WFormat::Q8_0;
    else if (kind == quant_layout_tag(ops::WFormat::Q4_0)) w.format = ops::WFormat::Q4_0;
    else if (kind == "Q8_0" || kind == "Q4_0")
      fail("{}: tensor '{}' is in the {} layout of fathom before 2026-11-23 (blocks stored one after another); "
           "this build reads the block-interleaved layout only: run fathom quantize again on the original checkpoint",
           *t.file, t.name, kind);
    else fail("{}: tensor '{}' has unknown quantization '{}'", *t.file, t.name, v);
    if (shape != fmt::format("{}x{}", rows, cols))
      fail("{}: tensor '{}' is quantized as {}, expected [{}, {}]", *t.file, t.name, shape, rows, cols);
    check_shape(t, {rows, ops::weight_row_bytes(w.format, cols)});
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    bytes_ += t.nbytes;
    return w;
  }

  // A 1-D vector (norm weight, bias), converted to f32.
  std::vector<float> vec(const std::string& name, int64_t n) {
    const io::TensorView& t = ckpt_.get(name, fmt::format("[{}]", n));
    check_shape(t, {n});
    if (!is_float_weight(t.dtype) || t.dtype == DType::F8_E4M3)
      fail("{}: tensor '{}' has dtype {}, expected F32, BF16 or F16", *t.file, name, dtype_name(t.dtype));
    std::vector<float> v(n);
    to_f32(t.dtype, t.data, v.data(), size_t(n));
    bytes_ += t.nbytes;
    return v;
  }

  // A 2-D matrix converted to f32 (the router: small, and kept exact).
  std::vector<float> dense_f32(const std::string& name, int64_t rows, int64_t cols) {
    WeightMatrix w = matrix(name, rows, cols);
    std::vector<float> v(rows * cols);
    for (int64_t r = 0; r < rows; ++r) ops::dequant_row(w, r, v.data() + r * cols);
    return v;
  }

  uint64_t bytes() const { return bytes_; }

 private:
  using SafetensorsFileRef = const io::SafetensorsFile*;
  SafetensorsFileRef shard_of(const io::TensorView& t) const {
    for (auto& s : ckpt_.shards())
      if (&s->path() == t.file || s->path() == *t.file) return s.get();
    fail("{}: tensor '{}' belongs to no open shard", *t.file, t.name);
  }

  void check_shape(const io::TensorView& t, std::vector<int64_t> shape) {
    if (t.shape != shape) {
      io::TensorView want;
      want.shape = shape;
      fail("{}: tensor '{}' has shape {}, expected {}", *t.file, t.name, t.shape_str(), want.shape_str());
    }
  }
  const io::Checkpoint& ckpt_;
  const ModelConfig& cfg_;
  uint64_t bytes_ = 0;
};

MlpWeights bind_mlp(Binder& b, const std::string& p, int64_t hidden, int64_t inter) {
  MlpWeights m;
  m.gate_proj = b.matrix(p + "gate_proj.weight", inter, hidden);
  m.up_proj = b.matrix(p + "up_proj.weight", inter, hidden);
  m.down_proj = b.matrix(p + "down_proj.weight", hidden, inter);
  return m;
}

LayerWeights bind_layer(Binder& b, const ModelConfig& c, int64_t i) {
  const std::string p = fmt::format("model.layers.{}.", i);
  const int64_t H = c.hidden_size, nh = c.num_attention_heads;
  LayerWeights L;
  L.input_layernorm = b.vec(p + "input_layernorm.weight", H);
  L.post_attention_layernorm = b.vec(p + "post_attention_layernorm.weight", H);
  AttentionWeights& a = L.attn;
  const std::string ap = p + "self_attn.";
  if (c.q_lora_rank > 0) {
    a.q_a_proj = b.matrix(ap + "q_a_proj.weight", c.q_lora_rank, H);
    a.q_a_layernorm = b.vec(ap + "q_a_layernorm.weight", c.q_lora_rank);
    a.q_b_proj = b.matrix(ap + "q_b_proj.weight", nh * c.qk_head_dim(), c.q_lora_rank);
  } else {
    a.q_proj = b.matrix(ap + "q_proj.weight", nh * c.qk_head_dim(), H);
  }
  a.kv_a_proj_with_mqa = b.matrix(ap + "kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, H);
  a.kv_a_layernorm = b.vec(ap + "kv_a_layernorm.weight", c.kv_lora_rank);
  a.kv_b_proj = b.matrix(ap + "kv_b_proj.weight", nh * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
  a.o_proj = b.matrix(ap + "o_proj.weight", H, nh * c.v_head_dim);

  L.is_moe = c.is_moe_layer(i);
  if (!L.is_moe) {
    L.mlp = bind_mlp(b, p + "mlp.", H, c.intermediate_size);
    return L;
  }
  MoeWeights& m = L.moe;
  m.gate.weight = b.dense_f32(p + "mlp.gate.weight", c.n_routed_experts, H);
  if (c.topk_method == TopkMethod::NoauxTc)
    m.gate.e_score_correction_bias = b.vec(p + "mlp.gate.e_score_correction_bias", c.n_routed_experts);
  m.experts.reserve(c.n_routed_experts);
  for (int64_t e = 0; e < c.n_routed_experts; ++e)
    m.experts.push_back(bind_mlp(b, fmt::format("{}mlp.experts.{}.", p, e), H, c.moe_intermediate_size));
  if (c.n_shared_experts > 0) {
    m.has_shared = true;
    m.shared_experts = bind_mlp(b, p + "mlp.shared_experts.", H, c.moe_intermediate_size * c.n_shared_experts);
  }
  return L;
}

}  // namespace

ModelWeights load_weights(const io::Checkpoint& ckpt, const ModelConfig& c) {
  Binder b(ckpt, c);
  ModelWeights w;
  w.embed_tokens = b.matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) w.layers.push_back(bind_layer(b, c, i));
  w.norm = b.vec("model.norm.weight", c.hidden_size);
  if (c.tie_word_embeddings && !ckpt.find("lm_head.weight"))
    w.lm_head = w.embed_tokens;
  else
    w.lm_head = b.matrix("lm_head.weight", c.vocab_size, c.hidden_size);
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const int64_t i = c.num_hidden_layers + k;
    const std::string p = fmt::format("model.layers.{}.", i);
    MtpWeights m;
    m.enorm = b.vec(p + "enorm.weight", c.hidden_size);
    m.hnorm = b.vec(p + "hnorm.weight", c.hidden_size);
    m.eh_proj = b.matrix(p + "eh_proj.weight", c.hidden_size, 2 * c.hidden_size);
    m.embed_tokens = ckpt.find(p + "embed_tokens.weight")
                         ? b.matrix(p + "embed_tokens.weight", c.vocab_size, c.hidden_size)
                         : w.embed_tokens;
    m.layer = bind_layer(b, c, i);
    m.shared_head_norm = b.vec(p + "shared_head.norm.weight", c.hidden_size);
    m.shared_head_head = ckpt.find(p + "shared_head.head.weight")
                             ? b.matrix(p + "shared_head.head.weight", c.vocab_size, c.hidden_size)
                             : w.lm_head;
    w.mtp.push_back(std::move(m));
  }
  w.bytes = b.bytes();
  return w;
}

}  // namespace fathom
