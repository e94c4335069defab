#include "model/mtp.h"

#include <algorithm>

#include "core/assert.h"
#include "ops/matmul.h"
#include "model/mla.h"
#include "ops/reference.h"

namespace fathom {

namespace {

// Module `module` over T rows at positions cache.length().., advancing the cache by T. Only the last
// `full` rows run the whole decoder layer (their output hidden states after shared_head.norm go to
// out_hidden[full, hidden]); the rows before them write just their latent cache rows, which is all
// a later row's attention reads of them (an MTP drafter's catch-up rows: nobody reads their output).
void mtp_rows(const Exec& ex, const Model& model, const MtpWeights& m, const float* hidden, const int32_t* next_tokens,
              int64_t T, int64_t full, LatentCache& cache, AttentionPath path, float* out_hidden) {
  const ModelConfig& c = model.config();
  const int64_t H = c.hidden_size, only_latents = T - full;
  const float eps = float(c.rms_norm_eps);
  cache.check_room(T);

  std::vector<float> emb(T * H), cat(T * 2 * H), x(T * H);
  model.embed(m.embed_tokens, next_tokens, T, emb.data());
  for (int64_t t = 0; t < T; ++t) {  // [enorm(embed) ; hnorm(h)] — embedding first
    ops::ref::rmsnorm(emb.data() + t * H, m.enorm.data(), H, eps, cat.data() + t * 2 * H);
    ops::ref::rmsnorm(hidden + t * H, m.hnorm.data(), H, eps, cat.data() + t * 2 * H + H);
  }
  linear(ex, m.eh_proj, cat.data(), T, x.data());
  if (only_latents > 0) {  // the decoder layer's first steps for these rows: input norm, latents
    for (int64_t t = 0; t < only_latents; ++t)
      ops::ref::rmsnorm(x.data() + t * H, m.layer.input_layernorm.data(), H, eps, emb.data() + t * H);
    mla_write_latents(ex, c, m.layer.attn, model.rope(), emb.data(), only_latents, cache, 0);
    cache.advance(only_latents);
  }
  if (full == 0) return;
  float* xf = x.data() + only_latents * H;
  model.decoder_layer(ex, m.layer, xf, full, cache, 0, path);
  cache.advance(full);
  for (int64_t t = 0; t < full; ++t)
    ops::ref::rmsnorm(xf + t * H, m.shared_head_norm.data(), H, eps, out_hidden + t * H);
}

}  // namespace

void mtp_forward(const Exec& ex, const Model& model, int64_t module, const float* hidden, const int32_t* next_tokens,
                 int64_t T, LatentCache& cache, AttentionPath path, float* logits, float* out_hidden) {
  if (module < 0 || module >= int64_t(model.weights().mtp.size()))
    fail("MTP module {} requested but the checkpoint has {} (num_nextn_predict_layers)", module,
         model.weights().mtp.size());
  std::vector<float> normed(size_t(T * model.config().hidden_size));
  mtp_rows(ex, model, model.weights().mtp[size_t(module)], hidden, next_tokens, T, T, cache, path, normed.data());
  if (out_hidden) std::copy(normed.begin(), normed.end(), out_hidden);
  if (logits) linear(ex, model.weights().mtp[size_t(module)].shared_head_head, normed.data(), T, logits);
}

MtpDrafter::MtpDrafter(const Model& model, int64_t capacity, CacheType type, std::shared_ptr<const DraftWeights> weights)
    : model_(model), weights_(std::move(weights)) {
  const int64_t D = int64_t(model.weights().mtp.size());
  if (D == 0)
    fail("speculative decoding drafts with the model's MTP modules, and this model has none "
         "(num_nextn_predict_layers = 0 in its config.json)");
  if (!weights_) weights_ = std::make_shared<const DraftWeights>(model, DraftWeights::Options());
  for (int64_t m = 0; m < D; ++m) caches_.push_back(model.make_mtp_cache(capacity, type));
  out_.resize(size_t(D));
  logits_.resize(size_t(model.config().vocab_size));
  step_hidden_.resize(size_t(model.config().hidden_size));
  row_out_.resize(size_t(model.config().hidden_size));
}

void MtpDrafter::reset() { truncate(0); }

int64_t MtpDrafter::truncate(int64_t n) {
  next_ = -1;
  drafts_.clear();
  if (n >= length_) return n;
  // Module m's row j reads token j+m+1: rows below n - D read only the tokens kept.
  const int64_t keep = std::max<int64_t>(0, n - modules());
  if (keep < valid_) {
    // Rows [keep, valid_) must be recomputed, from main hidden states no longer held: the caller
    // feeds the main model again from `keep`.
    valid_ = keep;
    length_ = keep;
    hidden_.clear();
    tokens_.clear();
    return keep;
  }
  length_ = n;
  hidden_.resize(size_t((n - valid_) * model_.config().hidden_size));
  tokens_.resize(size_t(n - valid_));
  return n;
}

int32_t MtpDrafter::token_at(int64_t pos) const {
  if (pos < length_) return tokens_[size_t(pos - valid_)];
  if (pos == length_) return next_;
  FATHOM_ASSERT(pos - length_ - 1 < int64_t(drafts_.size()), "MTP draft token requested before it was chosen");
  return drafts_[size_t(pos - length_ - 1)];
}

void MtpDrafter::run_module(const Exec& ex, int64_t m, int64_t end, bool want_logits) {
  const int64_t H = model_.config().hidden_size, rows = end - valid_;
  FATHOM_ASSERT(rows >= 0, "MTP catch-up over a negative number of rows");
  LatentCache& cache = caches_[size_t(m)];
  cache.truncate(valid_);
  out_[size_t(m)].resize(size_t(rows * H));
  row_tokens_.resize(size_t(rows));
  for (int64_t r = 0; r < rows; ++r) row_tokens_[size_t(r)] = token_at(valid_ + r + m + 1);
  const float* in = m == 0 ? hidden_.data() : out_[size_t(m - 1)].data();
  // The next module of a chain reads every row's output; the last module's outputs are read only
  // at the row a draft comes from, so its other rows just write their latent cache rows.
  const int64_t full = m + 1 < modules() ? rows : want_logits ? 1 : 0;
  for (int64_t c = 0; c < rows; c += kChunk) {
    const int64_t n = std::min(kChunk, rows - c);
    const int64_t full_here = std::clamp<int64_t>(c + n - (rows - full), 0, n);  // the chunk's tail
    // A round's few rows take the decode path; a prompt's many the prefill path.
    const AttentionPath path = full_here <= ops::kGemvMaxTokens ? AttentionPath::Absorbed : AttentionPath::Expanded;
    mtp_rows(ex, model_, weights_->module(m), in + c * H, row_tokens_.data() + c, n, full_here, cache, path,
             out_[size_t(m)].data() + (c + n - full_here) * H);
  }
  if (want_logits) {
    FATHOM_ASSERT(rows > 0, "MTP draft without a row to draft from");
    weights_->logits(ex, m, out_[size_t(m)].data() + (rows - 1) * H, head_scratch_, logits_.data());
  }
}

void MtpDrafter::advance_valid(const Exec& ex, int64_t new_valid, int64_t first_module) {
  if (new_valid <= valid_) return;
  for (int64_t m = first_module; m < modules(); ++m) run_module(ex, m, new_valid, false);
  const int64_t H = model_.config().hidden_size, drop = new_valid - valid_;
  hidden_.erase(hidden_.begin(), hidden_.begin() + drop * H);
  tokens_.erase(tokens_.begin(), tokens_.begin() + drop);
  valid_ = new_valid;
}

void MtpDrafter::observe(const Exec& ex, const int32_t* tokens, const float* hidden, int64_t n) {
  const int64_t H = model_.config().hidden_size, D = modules();
  if (n <= 0) return;
  const bool round = next_ >= 0;
  FATHOM_ASSERT(!round || tokens[0] == next_, "MTP drafter: the verified positions do not start with the round's token");
  hidden_.insert(hidden_.end(), hidden, hidden + n * H);
  tokens_.insert(tokens_.end(), tokens, tokens + n);
  const int64_t round_length = length_;
  length_ += n;
  if (round) {
    // Every module's rows below round_length - D + 1 were built from committed tokens this round;
    // modules the round did not reach (fewer drafts than modules) are brought up to the same row.
    const int64_t ran = std::min<int64_t>(D, int64_t(drafts_.size()) + 1);
    next_ = -1;
    drafts_.clear();
    advance_valid(ex, round_length - D + 1, ran);
  } else if (length_ - D - valid_ >= kChunk) {
    advance_valid(ex, length_ - D, 0);  // a long prefill: bound the hidden states held
  }
}

std::span<const float> MtpDrafter::first_draft(const Exec& ex, int32_t next) {
  if (length_ < 1) fail("MTP draft: the main model has not run yet (nothing to draft from)");
  if (next < 0 || next >= model_.config().vocab_size)
    fail("MTP draft: token id {} is outside the vocabulary [0, {})", next, model_.config().vocab_size);
  next_ = next;
  drafts_.clear();
  run_module(ex, 0, length_, true);
  return logits_;
}

std::span<const float> MtpDrafter::next_draft(const Exec& ex, int32_t draft) {
  FATHOM_ASSERT(next_ >= 0, "MTP next_draft without first_draft");
  const int64_t D = modules(), H = model_.config().hidden_size;
  drafts_.push_back(draft);
  const int64_t k = int64_t(drafts_.size());
  if (k < D) {  // the next module of the chain, at the same rows, reading the drafts so far
    run_module(ex, k, length_, true);
    return logits_;
  }
  // Past the chain: the last module one row further, on its own output and the draft just chosen.
  const int64_t pos = length_ + (k - D);
  LatentCache& cache = caches_[size_t(D - 1)];
  FATHOM_ASSERT(cache.length() == pos, "MTP cache out of step with the drafts");
  if (k == D) {
    const std::vector<float>& last = out_[size_t(D - 1)];
    std::copy(last.end() - H, last.end(), step_hidden_.begin());
  }
  mtp_rows(ex, model_, weights_->module(D - 1), step_hidden_.data(), &draft, 1, 1, cache, AttentionPath::Absorbed, row_out_.data());
  weights_->logits(ex, D - 1, row_out_.data(), head_scratch_, logits_.data());
  std::swap(step_hidden_, row_out_);
  return logits_;
}

}  // namespace fathom
