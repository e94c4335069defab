#include "model/mtp.h"

#include "ops/reference.h"

namespace fathom {

void mtp_forward(const Exec& ex, const Model& model, int64_t module, const float* hidden, const int32_t* next_tokens,
                 int64_t T, LatentCache& cache, AttentionPath path, float* logits, float* out_hidden) {
  const ModelConfig& c = model.config();
  if (module < 0 || module >= int64_t(model.weights().mtp.size()))
    fail("MTP module {} requested but the checkpoint has {} (num_nextn_predict_layers)", module,
         model.weights().mtp.size());
  const MtpWeights& m = model.weights().mtp[module];
  const int64_t H = c.hidden_size;
  const float eps = float(c.rms_norm_eps);
  cache.check_room(T);

  std::vector<float> emb(T * H), cat(T * 2 * H), x(T * H);
  model.embed(m.embed_tokens, next_tokens, T, emb.data());
  for (int64_t t = 0; t < T; ++t) {  // [enorm(embed) ; hnorm(h)] — embedding first
    ops::ref::rmsnorm(emb.data() + t * H, m.enorm.data(), H, eps, cat.data() + t * 2 * H);
    ops::ref::rmsnorm(hidden + t * H, m.hnorm.data(), H, eps, cat.data() + t * 2 * H + H);
  }
  linear(ex, m.eh_proj, cat.data(), T, x.data());
  model.decoder_layer(ex, m.layer, x.data(), T, cache, 0, path);
  cache.advance(T);
  std::vector<float> normed(T * H);
  for (int64_t t = 0; t < T; ++t)
    ops::ref::rmsnorm(x.data() + t * H, m.shared_head_norm.data(), H, eps, normed.data() + t * H);
  if (out_hidden) std::copy(normed.begin(), normed.end(), out_hidden);
  if (logits) linear(ex, m.shared_head_head, normed.data(), T, logits);
}

}  // namespace fathom
