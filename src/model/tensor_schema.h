// The tensor list of a DeepSeek checkpoint, written once. Every tensor a ModelConfig implies, in
// checkpoint order, with its Hugging Face name, shape, role, how fathom quantize and DeepSeek's FP8
// release store it, and the ModelWeights field it binds to. The loader (model/weights.cpp), the
// trainer's parameter layout (training/params.cpp), synth and quantize all read it, so a new
// DeepSeek variant is one edit here.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace fathom {

enum class TensorRole : uint8_t {
  Matrix,        // a Linear weight of a decoder layer or MTP module: [out_features, in_features]
  Embedding,     // embed_tokens [vocab, hidden]
  Output,        // lm_head and an MTP module's shared_head.head [vocab, hidden]
  Norm,          // an RMSNorm weight [n]
  RouterWeight,  // mlp.gate.weight [n_routed_experts, hidden], kept f32
  RouterBias,    // mlp.gate.e_score_correction_bias [n_routed_experts] (noaux_tc), selection only
};

const char* tensor_role_name(TensorRole r);

struct TensorSpec {
  std::string name;            // e.g. model.layers.0.self_attn.kv_b_proj.weight
  std::vector<int64_t> shape;  // [rows, cols] or [n]
  TensorRole role = TensorRole::Matrix;
  // fathom quantize stores it block-quantized (src/model/quantize.h).
  bool quantizable = false;
  // DeepSeek's FP8 release (and fathom synth --dtype fp8) stores it as F8_E4M3 with block scales.
  bool fp8 = false;
  // Where its block scales live when it is stored as F8_E4M3 (NAME_scale_inv, F32 [⌈rows/128⌉,
  // ⌈cols/128⌉]); empty for 1-D tensors.
  std::string block_scale;
  // Non-empty: a checkpoint may omit this tensor, and then the model uses the named one (an MTP
  // module's embed_tokens and shared_head.head; lm_head under tie_word_embeddings).
  std::string fallback;
  // The routed expert it belongs to (mlp.experts.E.*), or -1: expert parallelism places tensors by it.
  int32_t expert = -1;

  int64_t numel() const;
  int64_t rows() const { return shape[0]; }
  int64_t cols() const { return shape.size() > 1 ? shape[1] : 1; }
  std::string shape_str() const;  // "[rows, cols]"
};

std::string shape_str(const std::vector<int64_t>& shape);  // "[rows, cols]"

// Receives every tensor with the field it binds to. A visitor that binds writes the field; one that
// reads (a bound ModelWeights) reads it. Leaving a field with a fallback empty means "use the
// fallback": visit_tensors then copies the fallback's view into it.
class TensorVisitor {
 public:
  virtual ~TensorVisitor() = default;
  // Matrix, Embedding and Output roles: a WeightMatrix in any storage format.
  virtual void matrix(const TensorSpec& t, WeightMatrix& field) = 0;
  // Norm, RouterWeight and RouterBias roles: f32 values (the router weight row-major [E, hidden]).
  virtual void vector(const TensorSpec& t, VectorView& field) = 0;
};

// Visits the tensors of cfg in checkpoint order, shaping w to match (layers, experts, MTP modules,
// is_moe, has_shared) and handing the visitor each field.
void visit_tensors(const ModelConfig& cfg, ModelWeights& w, TensorVisitor& visitor);

// The flat list, for tools that bind nothing (synth, quantize, the trainer's layout).
std::vector<TensorSpec> tensor_specs(const ModelConfig& cfg);

// A tensor's random stream seed: a function of (seed, name) only, the same with every compiler
// (FNV-1a of the name, unlike std::hash), so a seed gives the same weights everywhere.
uint64_t tensor_seed(uint64_t seed, std::string_view name);

// splitmix64 over the state from tensor_seed: each tensor its own stream, so values do not depend
// on the order tensors are visited and any one can be regenerated alone.
struct TensorRng {
  uint64_t state;
  TensorRng(uint64_t seed, std::string_view name) : state(tensor_seed(seed, name)) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

}  // namespace fathom
