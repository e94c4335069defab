// Multi-token prediction (DeepSeek-V3 §2.2): module k predicts one token further from the main
// model's final hidden state h_i (after model.norm, see CONVENTIONS.md) and the embedding of token
// i+1:  x = eh_proj([enorm(embed(t_{i+1})); hnorm(h_i)]) -> decoder layer -> shared_head -> logits
// for token i+2. Each module has its own one-layer latent cache (Model::make_mtp_cache).
#pragma once
#include "model/model.h"

namespace fathom {

// hidden: [T, hidden] main-model final hidden states for positions p..p+T-1 (p = cache.length());
// next_tokens: [T] the tokens at positions p+1..p+T. Writes logits [T, vocab] (and the module's
// output hidden states [T, hidden] after shared_head.norm if out_hidden is non-null).
void mtp_forward(const Exec& ex, const Model& model, int64_t module, const float* hidden, const int32_t* next_tokens,
                 int64_t T, LatentCache& cache, AttentionPath path, float* logits, float* out_hidden = nullptr);

}  // namespace fathom
