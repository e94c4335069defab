// The DeepSeek decoder: embedding -> N x [RMSNorm -> MLA -> residual -> RMSNorm -> MLP|MoE ->
// residual] -> RMSNorm -> lm_head, plus the MTP modules (model/mtp.h). Owns the mapped checkpoint.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "model/compute.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/mla.h"
#include "model/rope.h"
#include "model/weights.h"

namespace fathom {

class Model {
 public:
  // Opens MODEL_DIR, parses config.json and validates every tensor.
  // Checkpoint::Options::in_memory reads the weights into huge-page memory (the fast decode path
  // wants it); the default maps them.
  static std::unique_ptr<Model> load(const std::string& dir, const io::CheckpointOptions& opt = io::CheckpointOptions());

  const ModelConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return w_; }
  const io::Checkpoint& checkpoint() const { return *ckpt_; }
  const Rope& rope() const { return rope_; }

  // Derives what the fast path needs (per-head absorbed kv_b). Idempotent; call before using a fast
  // Exec with the absorbed path.
  void prepare_fast();

  // A latent cache for the main layers; a one-layer cache for one MTP module. Both of the type set
  // by set_cache_type (f32 unless told; `--cache-type` in the CLI).
  LatentCache make_cache(int64_t capacity) const;
  LatentCache make_mtp_cache(int64_t capacity) const;
  void set_cache_type(CacheType t) { cache_type_ = t; }
  CacheType cache_type() const { return cache_type_; }

  // Runs T tokens at positions cache.length().. and appends them to the cache.
  //   logits: [T, vocab] or null;  hidden: [T, hidden] final hidden states after model.norm, or null.
  void forward(const Exec& ex, const int32_t* tokens, int64_t T, LatentCache& cache, AttentionPath path,
               float* logits, float* hidden) const;

  // One decode step for B independent sequences: token b is appended to *caches[b] (which may have
  // different lengths). logits: [B, vocab]. Weights are read once for the whole batch.
  void decode_batch(const Exec& ex, const int32_t* tokens, int64_t B, LatentCache* const* caches, float* logits,
                    float* hidden = nullptr) const;

  // One decoder layer in place on x: [T, hidden]. `slot` is the layer's index in `cache`.
  void decoder_layer(const Exec& ex, const LayerWeights& L, float* x, int64_t T, LatentCache& cache, int64_t slot,
                     AttentionPath path) const;

  // x[T, hidden] = embed rows of tokens (from the given embedding matrix).
  void embed(const WeightMatrix& table, const int32_t* tokens, int64_t T, float* x) const;

 private:
  Model() = default;
  // The layer skeleton (norm, attention, residual, norm, MLP or MoE, residual) around any attention.
  template <typename Attention>
  void decoder_layer_impl(const Exec& ex, const LayerWeights& L, float* x, int64_t T,
                          Attention&& attention) const;
  std::unique_ptr<io::Checkpoint> ckpt_;
  ModelConfig cfg_;
  CacheType cache_type_ = CacheType::F32;
  ModelWeights w_;
  Rope rope_{default_rope_config()};
  static ModelConfig default_rope_config() {
    ModelConfig c;
    c.qk_rope_head_dim = 2;
    return c;
  }
};

}  // namespace fathom
