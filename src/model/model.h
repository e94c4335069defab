// The DeepSeek decoder: embedding -> N x [RMSNorm -> MLA -> residual -> RMSNorm -> MLP|MoE ->
// residual] -> RMSNorm -> lm_head, plus the MTP modules (model/mtp.h). Owns the mapped checkpoint.
#pragma once
#include <functional>
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
  // Opens MODEL_DIR, parses config.json and validates every tensor, and derives what the fast
  // absorbed path needs (kv_b split per head), so the model is ready for every Exec and path.
  // Checkpoint::Options::in_memory reads the weights into huge-page memory (the fast decode path
  // wants it); the default maps them.
  static std::unique_ptr<Model> load(const std::string& dir, const io::CheckpointOptions& opt = io::CheckpointOptions());
  // A model over weights owned elsewhere (the trainer's parameters, train::ParamLayout::bind), with
  // no checkpoint (checkpoint() must not be called). The weights must outlive the model; what is
  // derived from them (the absorbed kv_b) is computed here, so make a new one after they change.
  static std::unique_ptr<Model> over_weights(const ModelConfig& cfg, ModelWeights weights);

  const ModelConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return w_; }
  const io::Checkpoint& checkpoint() const { return *ckpt_; }
  const Rope& rope() const { return rope_; }

  // A latent cache for the main layers; a one-layer cache for one MTP module. The storage type is
  // the cache's own (f32 unless asked; `--cache-type` in the CLI), so one Model serves caches of
  // different types at once.
  LatentCache make_cache(int64_t capacity, CacheType type = CacheType::F32) const;
  LatentCache make_mtp_cache(int64_t capacity, CacheType type = CacheType::F32) const;

  // Runs T tokens at positions cache.length().. and appends them to the cache.
  //   logits: [T, vocab] or null;  hidden: [T, hidden] final hidden states after model.norm, or null.
  void forward(const Exec& ex, const int32_t* tokens, int64_t T, LatentCache& cache, AttentionPath path,
               float* logits, float* hidden) const;

  // One decode step for B independent sequences: token b is appended to *caches[b] (which may have
  // different lengths). logits: [B, vocab]. Weights are read once for the whole batch.
  void decode_batch(const Exec& ex, const int32_t* tokens, int64_t B, LatentCache* const* caches, float* logits,
                    float* hidden = nullptr) const;
  // Decode / verify step for B sequences, sequence b appending counts[b] >= 1 tokens to *caches[b]
  // (speculative verification: the pending token and its drafts). tokens: the sequences' tokens one
  // after the other, N = sum(counts) in all; logits: [N, vocab] and hidden: [N, hidden] (after
  // model.norm), or null. The absorbed decode path over the latent caches; token i of sequence b
  // attends to its cache and to the tokens before it in its own run. Each position's logits are
  // bit-identical to one-token decode of the same positions as long as N <= ops::kGemvMaxTokens
  // (the matrix products then run the per-token GEMV kernels, whose rounding does not depend on
  // the batch); with more tokens the products tile as a GEMM and agree to its rounding.
  void decode_batch(const Exec& ex, const int32_t* tokens, const int64_t* counts, int64_t B,
                    LatentCache* const* caches, float* logits, float* hidden = nullptr) const;

  // One decoder layer in place on x: [T, hidden]. `slot` is the layer's index in `cache`.
  void decoder_layer(const Exec& ex, const LayerWeights& L, float* x, int64_t T, LatentCache& cache, int64_t slot,
                     AttentionPath path) const;

  // x[T, hidden] = embed rows of tokens (from the given embedding matrix).
  void embed(const WeightMatrix& table, const int32_t* tokens, int64_t T, float* x) const;

  // Benchmarks: while set, every MoE layer of the main model reports the routed experts it picks,
  // experts [T, num_experts_per_tok] for its T tokens (the router runs once more for it). Not for
  // concurrent use; an empty function turns it off.
  using RoutingObserver = std::function<void(int64_t layer, const int32_t* experts, int64_t T)>;
  void observe_routing(RoutingObserver f) const { routing_observer_ = std::move(f); }

 private:
  Model() = default;
  // The layer skeleton (norm, attention, residual, norm, MLP or MoE, residual) around any attention.
  template <typename Attention>
  void decoder_layer_impl(const Exec& ex, const LayerWeights& L, float* x, int64_t T,
                          Attention&& attention) const;
  std::unique_ptr<io::Checkpoint> ckpt_;
  ModelConfig cfg_;
  ModelWeights w_;
  Rope rope_{default_rope_config()};
  mutable RoutingObserver routing_observer_;
  static ModelConfig default_rope_config() {
    ModelConfig c;
    c.qk_rope_head_dim = 2;
    return c;
  }
};

}  // namespace fathom
