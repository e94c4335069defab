// Trainable parameters: every tensor of a DeepSeek checkpoint (model/tensor_schema.h) under its
// Hugging Face name, laid out back to back in one f32 buffer. The same layout serves the
// parameters, their gradients and AdamW's two moments: bind(base) gives a ModelWeights, the
// inference weight types, over any buffer of layout.numel() floats, with every matrix an F32
// WeightMatrix view and every norm or router tensor a VectorView. Inference code (model/) reads
// such weights as it reads a loaded checkpoint, with no copy.
//
// The MTP modules share the main model's embedding and output head (DeepSeek-V3 §2.2), so their
// embed_tokens / shared_head.head (the tensors with a schema fallback) are not separate tensors
// here; the bound views point at the main model's. e_score_correction_bias lives in the buffer (it
// is saved with the model) but is not trained by gradients: the balancing rule updates it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace fathom::train {

// How initialisation and the optimizer treat a tensor (Matrix: Linear weights, lm_head and the
// router gate included; they are the weight-decayed ones).
enum class ParamKind { Matrix, Embedding, Norm, RouterBias };

struct ParamTensor {
  std::string name;  // Hugging Face name, e.g. model.layers.0.self_attn.kv_b_proj.weight
  std::vector<int64_t> shape;
  int64_t offset = 0, numel = 0;  // in floats, within the buffer
  ParamKind kind = ParamKind::Matrix;
  int32_t expert = -1;   // the routed expert it belongs to, or -1
  bool sharded = false;  // a routed expert's tensor under expert parallelism: on its owner rank only
};

// Which routed experts a process holds under expert-parallel training (docs/DISTRIBUTED.md):
// expert e of E lives on rank expert_parallel::owner(e, E, ranks), the partition of expert-parallel
// inference. ranks = 0: not expert parallel, every expert here (and replicated over data-parallel
// ranks). ranks = 1 runs the expert-parallel path over a single rank.
struct ExpertShard {
  int rank = 0, ranks = 0;
  bool active() const { return ranks > 0; }
  bool holds(int64_t expert, int64_t n_experts) const;
};

// The f32 data of a view the trainer bound (fails on any other format).
const float* f32(const WeightMatrix& w);
inline const float* f32(const VectorView& v) { return v.data(); }
// Gradients are bound with the same view types over the gradient buffer, which the trainer owns
// and writes: the views are read-only by declaration only.
float* writable(const WeightMatrix& w);
inline float* writable(const VectorView& v) { return const_cast<float*>(v.data()); }

class ParamLayout {
 public:
  // Every tensor of cfg; with an active shard, the routed experts of other ranks are left out (their
  // views stay empty in bind()) and this rank's are marked sharded. The order is the checkpoint's.
  explicit ParamLayout(const ModelConfig& cfg, ExpertShard shard = {});
  const ModelConfig& config() const { return cfg_; }
  const ExpertShard& shard() const { return shard_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  int64_t numel() const { return numel_; }
  ModelWeights bind(const float* base) const;
  const ParamTensor* find(const std::string& name) const;

 private:
  ModelConfig cfg_;
  ExpertShard shard_;
  std::vector<ParamTensor> tensors_;
  int64_t numel_ = 0;
};

// Random initialisation, a function of (seed, tensor name) only: matrices and embeddings
// N(0, 0.02²), o_proj and down_proj N(0, (0.02/√(2·layers))²) (GPT-2's residual scaling), norms 1,
// router bias 0.
void init_params(const ParamLayout& layout, float* params, uint64_t seed);

// Reads every tensor from a checkpoint directory fathom can load (F32, BF16, F16, FP8 with block
// scales, fathom quantize's Q8_0 / Q4_0), dequantized to f32, into params. The checkpoint's own
// config.json describes how it is stored; its shapes must match the layout's.
void load_params(const ParamLayout& layout, float* params, const std::string& dir);

// Writes DIR_FILE (a .safetensors) with every tensor; dtype F32 or BF16 (router bias always F32).
void save_params(const ParamLayout& layout, const float* params, const std::string& path, bool bf16,
                 const std::vector<std::pair<std::string, std::string>>& metadata = {});
// Writes PATH in DeepSeek-V3's native FP8 layout: the Linears its release stores in FP8 (those of
// the decoder layers, tensor_schema.h's fp8) as F8_E4M3 with an F32 NAME_scale_inv per 128x128
// block, the router bias F32, everything else BF16. config.json must carry the matching
// quantization_config (fp8, e4m3, dynamic, [128, 128]).
void save_params_fp8(const ParamLayout& layout, const float* params, const std::string& path,
                     const std::vector<std::pair<std::string, std::string>>& metadata = {});

}  // namespace fathom::train
