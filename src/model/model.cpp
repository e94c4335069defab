#include "model/model.h"

#include <filesystem>

#include "model/expert_parallel.h"
#include "model/experts.h"
#include "model/mla_fast.h"
#include "model/router.h"
#include "ops/reference.h"

namespace fathom {

std::unique_ptr<Model> Model::load(const std::string& dir, const io::Checkpoint::Options& opt) {
  std::unique_ptr<Model> m(new Model());
  m->ckpt_ = std::make_unique<io::Checkpoint>(dir, expert_parallel::checkpoint_options(opt));
  m->cfg_ = ModelConfig::from_json(m->ckpt_->config_json(), (std::filesystem::path(dir) / "config.json").string());
  m->w_ = load_weights(*m->ckpt_, m->cfg_);
  expert_parallel::place_experts(m->cfg_, m->w_);  // ranks other than 0 serve their experts from here
  m->rope_ = Rope(m->cfg_);
  for (auto& L : m->w_.layers) L.attn.absorbed = make_absorbed_kv_b(m->cfg_, L.attn.kv_b_proj);
  for (auto& mtp : m->w_.mtp) mtp.layer.attn.absorbed = make_absorbed_kv_b(m->cfg_, mtp.layer.attn.kv_b_proj);
  return m;
}

std::unique_ptr<Model> Model::over_weights(const ModelConfig& cfg, ModelWeights weights) {
  std::unique_ptr<Model> m(new Model());
  m->cfg_ = cfg;
  m->w_ = std::move(weights);
  m->rope_ = Rope(m->cfg_);
  for (auto& L : m->w_.layers) L.attn.absorbed = make_absorbed_kv_b(m->cfg_, L.attn.kv_b_proj);
  for (auto& mtp : m->w_.mtp) mtp.layer.attn.absorbed = make_absorbed_kv_b(m->cfg_, mtp.layer.attn.kv_b_proj);
  return m;
}

LatentCache Model::make_cache(int64_t capacity, CacheType type) const {
  return LatentCache(cfg_.num_hidden_layers, capacity, cfg_.kv_lora_rank, cfg_.qk_rope_head_dim, type);
}

LatentCache Model::make_mtp_cache(int64_t capacity, CacheType type) const {
  return LatentCache(1, capacity, cfg_.kv_lora_rank, cfg_.qk_rope_head_dim, type);
}

void Model::embed(const WeightMatrix& table, const int32_t* tokens, int64_t T, float* x) const {
  for (int64_t t = 0; t < T; ++t) {
    if (tokens[t] < 0 || tokens[t] >= cfg_.vocab_size)
      fail("token id {} is outside the vocabulary [0, {})", tokens[t], cfg_.vocab_size);
    ops::dequant_row(table, tokens[t], x + t * cfg_.hidden_size);
  }
}

void Model::decoder_layer(const Exec& ex, const LayerWeights& L, float* x, int64_t T, LatentCache& cache,
                          int64_t slot, AttentionPath path) const {
  decoder_layer_impl(ex, L, x, T, [&](const float* normed, float* delta) {
    mla_forward(ex, cfg_, L.attn, rope_, normed, T, cache, slot, path, delta);
  });
}

template <typename Attention>
void Model::decoder_layer_impl(const Exec& ex, const LayerWeights& L, float* x, int64_t T,
                               Attention&& attention) const {
  const int64_t H = cfg_.hidden_size;
  const float eps = float(cfg_.rms_norm_eps);
  std::vector<float> normed(T * H), delta(T * H);
  for (int64_t t = 0; t < T; ++t)
    ops::ref::rmsnorm(x + t * H, L.input_layernorm.data(), H, eps, normed.data() + t * H);
  attention(normed.data(), delta.data());
  for (int64_t i = 0; i < T * H; ++i) x[i] += delta[i];
  for (int64_t t = 0; t < T; ++t)
    ops::ref::rmsnorm(x + t * H, L.post_attention_layernorm.data(), H, eps, normed.data() + t * H);
  if (L.is_moe && routing_observer_ && &L >= w_.layers.data() && &L < w_.layers.data() + w_.layers.size()) {
    const Routes r = route_tokens(ex, cfg_, L.moe.gate, normed.data(), T);
    routing_observer_(&L - w_.layers.data(), r.experts.data(), T);
  }
  if (L.is_moe)
    moe_forward(ex, cfg_, L.moe, normed.data(), T, delta.data());
  else
    mlp_forward(ex, L.mlp, normed.data(), T, delta.data());
  for (int64_t i = 0; i < T * H; ++i) x[i] += delta[i];
}

void Model::decode_batch(const Exec& ex, const int32_t* tokens, int64_t B, LatentCache* const* caches, float* logits,
                         float* hidden) const {
  decode_batch(ex, tokens, nullptr, B, caches, logits, hidden);
}

void Model::decode_batch(const Exec& ex, const int32_t* tokens, const int64_t* counts, int64_t B,
                         LatentCache* const* caches, float* logits, float* hidden) const {
  const int64_t H = cfg_.hidden_size;
  int64_t N = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = counts ? counts[b] : 1;
    if (n < 1) fail("decode_batch: sequence {} brings {} tokens (at least 1)", b, n);
    caches[b]->check_room(n);
    N += n;
  }
  std::vector<float> x(N * H);
  embed(w_.embed_tokens, tokens, N, x.data());
  for (int64_t i = 0; i < cfg_.num_hidden_layers; ++i)
    decoder_layer_impl(ex, w_.layers[i], x.data(), N, [&](const float* normed, float* delta) {
      mla_decode_batch(ex, cfg_, w_.layers[i].attn, rope_, normed, B, caches, i, delta, counts);
    });
  for (int64_t b = 0; b < B; ++b) caches[b]->advance(counts ? counts[b] : 1);
  std::vector<float> normed(N * H);
  for (int64_t t = 0; t < N; ++t)
    ops::ref::rmsnorm(x.data() + t * H, w_.norm.data(), H, float(cfg_.rms_norm_eps), normed.data() + t * H);
  if (hidden) std::copy(normed.begin(), normed.end(), hidden);
  if (logits) linear(ex, w_.lm_head, normed.data(), N, logits);
}

void Model::forward(const Exec& ex, const int32_t* tokens, int64_t T, LatentCache& cache, AttentionPath path,
                    float* logits, float* hidden) const {
  const int64_t H = cfg_.hidden_size;
  cache.check_room(T);
  std::vector<float> x(T * H);
  embed(w_.embed_tokens, tokens, T, x.data());
  for (int64_t i = 0; i < cfg_.num_hidden_layers; ++i) decoder_layer(ex, w_.layers[i], x.data(), T, cache, i, path);
  cache.advance(T);
  std::vector<float> normed(T * H);
  for (int64_t t = 0; t < T; ++t)
    ops::ref::rmsnorm(x.data() + t * H, w_.norm.data(), H, float(cfg_.rms_norm_eps), normed.data() + t * H);
  if (hidden) std::copy(normed.begin(), normed.end(), hidden);
  if (logits) linear(ex, w_.lm_head, normed.data(), T, logits);
}

}  // namespace fathom
