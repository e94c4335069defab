#include "training/params.h"

#include <cmath>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/expert_parallel.h"
#include "model/tensor_schema.h"
#include "training/lowp_gemm.h"

namespace fathom::train {

namespace fs = std::filesystem;

namespace {

ParamKind kind_of(TensorRole r) {
  switch (r) {
    case TensorRole::Embedding: return ParamKind::Embedding;
    case TensorRole::Norm: return ParamKind::Norm;
    case TensorRole::RouterBias: return ParamKind::RouterBias;
    case TensorRole::Matrix:
    case TensorRole::Output:
    case TensorRole::RouterWeight: return ParamKind::Matrix;
  }
  return ParamKind::Matrix;
}

// Binds the layout's tensors, in schema order, to views into base; tensors with a fallback stay
// empty so visit_tensors points them at the tensor they share, and so do other ranks' experts.
class LayoutBinder : public TensorVisitor {
 public:
  LayoutBinder(const std::vector<ParamTensor>& tensors, const float* base, const ExpertShard& shard, int64_t E)
      : tensors_(tensors), base_(base), shard_(shard), E_(E) {}
  void matrix(const TensorSpec& t, WeightMatrix& field) override {
    if (!t.fallback.empty()) return;
    if (t.expert >= 0 && !shard_.holds(t.expert, E_)) return;
    const ParamTensor& p = next(t);
    field = WeightMatrix{};
    field.format = ops::WFormat::F32;
    field.rows = t.rows();
    field.cols = t.cols();
    field.data = base_ + p.offset;
  }
  void vector(const TensorSpec& t, VectorView& field) override {
    const ParamTensor& p = next(t);
    field = VectorView(base_ + p.offset, size_t(p.numel));
  }

 private:
  const ParamTensor& next(const TensorSpec& t) {
    if (i_ >= tensors_.size() || tensors_[i_].name != t.name)
      fail("internal: the parameter layout does not follow the tensor schema at '{}'", t.name);
    return tensors_[i_++];
  }
  const std::vector<ParamTensor>& tensors_;
  const float* base_;
  const ExpertShard& shard_;
  int64_t E_;
  size_t i_ = 0;
};

// splitmix64 stream per (seed, name), so a tensor's values do not depend on the others.
struct Rng : TensorRng {
  using TensorRng::TensorRng;
  double uniform() { return (double(next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
  double normal() { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * M_PI * uniform()); }
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Each tensor of a loaded checkpoint by name, with the view the loader bound.
class ViewIndex : public TensorVisitor {
 public:
  void matrix(const TensorSpec& t, WeightMatrix& field) override { matrices[t.name] = &field; }
  void vector(const TensorSpec& t, VectorView& field) override { vectors[t.name] = &field; }
  std::map<std::string, const WeightMatrix*> matrices;
  std::map<std::string, const VectorView*> vectors;
};

}  // namespace

const float* f32(const WeightMatrix& w) {
  if (w.format != ops::WFormat::F32 || !w.data) fail("internal: a training weight view is not bound to f32 data");
  return static_cast<const float*>(w.data);
}

float* writable(const WeightMatrix& w) { return const_cast<float*>(f32(w)); }

bool ExpertShard::holds(int64_t expert, int64_t n_experts) const {
  return !active() || expert_parallel::owner(expert, n_experts, ranks) == rank;
}

ParamLayout::ParamLayout(const ModelConfig& cfg, ExpertShard shard) : cfg_(cfg), shard_(shard) {
  if (cfg.quantization_config) fail("fathom train: quantized configs (quantization_config) cannot be trained");
  for (const TensorSpec& t : tensor_specs(cfg_)) {
    if (!t.fallback.empty()) continue;  // shared with the tensor it falls back to
    if (t.expert >= 0 && !shard_.holds(t.expert, cfg_.n_routed_experts)) continue;  // another rank's
    tensors_.push_back({t.name, t.shape, numel_, t.numel(), kind_of(t.role), t.expert,
                        t.expert >= 0 && shard_.active()});
    numel_ += t.numel();
  }
}

ModelWeights ParamLayout::bind(const float* base) const {
  ModelWeights w;
  LayoutBinder b(tensors_, base, shard_, cfg_.n_routed_experts);
  visit_tensors(cfg_, w, b);
  w.bytes = uint64_t(numel_) * sizeof(float);
  return w;
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
  const ModelConfig stored = ModelConfig::from_json(ckpt.config_json(), (fs::path(dir) / "config.json").string());
  ModelWeights w = load_weights(ckpt, stored);  // validates every tensor; any storage format
  ViewIndex index;
  visit_tensors(stored, w, index);
  for (const ParamTensor& t : layout.tensors()) {
    const std::string expect = shape_str(t.shape);
    float* dst = params + t.offset;
    if (auto m = index.matrices.find(t.name); m != index.matrices.end()) {
      const WeightMatrix& v = *m->second;
      if (t.shape.size() != 2 || v.rows != t.shape[0] || v.cols != t.shape[1])
        fail("{}: tensor '{}' is [{}, {}], the model being trained expects {}", dir, t.name, v.rows, v.cols, expect);
      for (int64_t r = 0; r < v.rows; ++r) ops::dequant_row(v, r, dst + r * v.cols);
    } else if (auto f = index.vectors.find(t.name); f != index.vectors.end()) {
      const VectorView& v = *f->second;
      if (int64_t(v.size()) != t.numel)
        fail("{}: tensor '{}' has {} values, the model being trained expects {}", dir, t.name, v.size(), expect);
      std::copy(v.begin(), v.end(), dst);
    } else {
      fail("{}: the checkpoint's config.json implies no tensor '{}' (expected {}) that the model being trained has",
           dir, t.name, expect);
    }
  }
}

namespace {

// Writes every tensor of the layout in the dtype dtype_of gives it: F32, BF16, or F8_E4M3 with
// an F32 NAME_scale_inv per 128x128 block (scale_inv = max|w| / 448 of the block: w ≈ q · scale_inv).
template <typename DTypeOf>
void write_params(const ParamLayout& layout, const float* params, const std::string& path,
                  const std::vector<std::pair<std::string, std::string>>& metadata, DTypeOf dtype_of) {
  io::SafetensorsWriter w(path);
  w.set_metadata("format", "pt");
  for (auto& [k, v] : metadata) w.set_metadata(k, v);
  auto blocks = [](int64_t n) { return (n + kLowpBlock - 1) / kLowpBlock; };
  for (const ParamTensor& t : layout.tensors()) {
    w.add(t.name, dtype_of(t), t.shape);
    if (dtype_of(t) == DType::F8_E4M3) w.add(t.name + "_scale_inv", DType::F32, {blocks(t.shape[0]), blocks(t.shape[1])});
  }
  w.begin();
  std::vector<uint16_t> half;
  LowpMatrix q;
  for (const ParamTensor& t : layout.tensors()) {
    const float* p = params + t.offset;
    switch (dtype_of(t)) {
      case DType::F8_E4M3:
        lowp_quantize(Ops{}, LowpFormat::E4M3, kLowpBlock, p, t.shape[0], t.shape[1], t.shape[1], q);
        w.write(t.name, q.bytes.data(), q.bytes.size());
        w.write(t.name + "_scale_inv", q.scale.data(), q.scale.size() * 4);
        break;
      case DType::BF16:
        half.resize(t.numel);
        for (int64_t i = 0; i < t.numel; ++i) half[i] = f32_to_bf16(p[i]);
        w.write(t.name, half.data(), half.size() * 2);
        break;
      default: w.write(t.name, p, size_t(t.numel) * 4);
    }
  }
  w.finish();
}

}  // namespace

void save_params(const ParamLayout& layout, const float* params, const std::string& path, bool bf16,
                 const std::vector<std::pair<std::string, std::string>>& metadata) {
  write_params(layout, params, path, metadata, [&](const ParamTensor& t) {
    return bf16 && t.kind != ParamKind::RouterBias ? DType::BF16 : DType::F32;
  });
}

void save_params_fp8(const ParamLayout& layout, const float* params, const std::string& path,
                     const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::map<std::string, bool> fp8;  // the tensors DeepSeek-V3's release stores as F8_E4M3
  for (const TensorSpec& t : tensor_specs(layout.config())) fp8[t.name] = t.fp8 && t.shape.size() == 2;
  write_params(layout, params, path, metadata, [&](const ParamTensor& t) {
    return fp8[t.name] ? DType::F8_E4M3 : t.kind == ParamKind::RouterBias ? DType::F32 : DType::BF16;
  });
}

}  // namespace fathom::train
