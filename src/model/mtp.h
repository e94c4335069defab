// Multi-token prediction (DeepSeek-V3 §2.2): module k predicts one token further from the main
// model's final hidden state h_i (after model.norm, see CONVENTIONS.md) and the embedding of token
// i+1:  x = eh_proj([enorm(embed(t_{i+1})); hnorm(h_i)]) -> decoder layer -> shared_head -> logits
// for token i+2. Each module has its own one-layer latent cache (Model::make_mtp_cache).
#pragma once
#include <memory>
#include <span>
#include <vector>

#include "model/model.h"
#include "model/mtp_draft_weights.h"

namespace fathom {

// hidden: [T, hidden] main-model final hidden states for positions p..p+T-1 (p = cache.length());
// next_tokens: [T] the tokens at positions p+1..p+T. Writes logits [T, vocab] (and the module's
// output hidden states [T, hidden] after shared_head.norm if out_hidden is non-null).
void mtp_forward(const Exec& ex, const Model& model, int64_t module, const float* hidden, const int32_t* next_tokens,
                 int64_t T, LatentCache& cache, AttentionPath path, float* logits, float* out_hidden = nullptr);

// The draft side of self-speculative decoding for one sequence: the MTP modules' latent caches,
// kept consistent with the tokens the main model has committed, and the main hidden states the next
// draft needs.
//
// Positions. The main cache holds tokens t_0 .. t_{L-1} (L = length()); t_L, the token the target
// just chose, is committed but not yet fed. Module m (0-based) at row j reads
// [enorm(embed(t_{j+m+1})); hnorm(h^m_j)] where h^0 = the main model's normed hidden state and
// h^m (m > 0) = module m-1's output after shared_head.norm (how fathom trains chained modules).
// A draft round at length L:
//   - module 0 catches up over the rows not yet valid, up to row L-1 (one batched pass), and its
//     last row drafts t_{L+1};
//   - modules 1 .. D-1 (D = num_nextn_predict_layers) do the same in turn, each reading the drafts
//     of the modules before it, and draft t_{L+2} .. t_{L+D} (the chain DeepSeek trains);
//   - beyond D, the last module runs again on its own output hidden state and draft token, one row
//     further per draft (vLLM's and SGLang's convention for V3's single module).
// Rows built from a draft token or a draft hidden state are provisional: the next round truncates
// every module's cache back to its last row built from committed tokens alone and recomputes from
// there, so rows of rejected (and accepted) drafts are rewritten with the verified values.
class MtpDrafter {
 public:
  // capacity: the main cache's capacity. Fails naming num_nextn_predict_layers when the model has
  // no MTP module. weights: what the drafts are computed with (null: the modules' own weights
  // and heads over the whole vocabulary).
  MtpDrafter(const Model& model, int64_t capacity, CacheType type = CacheType::F32,
             std::shared_ptr<const DraftWeights> weights = nullptr);

  int64_t modules() const { return int64_t(caches_.size()); }
  int64_t length() const { return length_; }  // main-model positions observed

  // Forget everything (a new, unrelated sequence): same as truncate(0).
  void reset();
  // The main cache is being cut back to n tokens (prefix reuse). Returns r <= n: the caller must cut
  // the main cache to r instead and feed positions r.. again (through observe), because the drafter
  // no longer holds the main hidden states of the rows it must recompute. Usually r == n.
  int64_t truncate(int64_t n);

  // The main model fed tokens [n] at positions length() .. length()+n-1 and produced their final
  // hidden states (after model.norm) hidden [n, hidden_size]: prefill chunks, or the accepted
  // positions of a verification. Catches the modules up in bounded chunks during long prefills.
  void observe(const Exec& ex, const int32_t* tokens, const float* hidden, int64_t n);

  // Drafting, one token at a time (the caller picks each draft from the logits with its sampler):
  // first_draft(next) takes t_L = next and returns the logits [vocab] for t_{L+1};
  // next_draft(d) takes the draft chosen from the previous logits and returns those of the token
  // after it. The spans stay valid until the next call. A round ends with observe() of the
  // verified positions (or truncate / reset).
  std::span<const float> first_draft(const Exec& ex, int32_t next);
  std::span<const float> next_draft(const Exec& ex, int32_t draft);

  // Rows a catch-up may process in one forward call (bounds scratch memory on long prompts).
  static constexpr int64_t kChunk = 512;

 private:
  int32_t token_at(int64_t pos) const;  // committed token, `next_`, or a draft of this round
  // Module m over rows [valid_, end), writing out_[m] (the last module: only the last row's, and
  // only when logits are asked); logits of the last row into logits_ if asked.
  void run_module(const Exec& ex, int64_t m, int64_t end, bool want_logits);
  // Runs modules [first_module, D) up to row new_valid (committed tokens only), then forgets the
  // hidden states and tokens below it.
  void advance_valid(const Exec& ex, int64_t new_valid, int64_t first_module);

  const Model& model_;
  std::shared_ptr<const DraftWeights> weights_;
  std::vector<LatentCache> caches_;  // one per module
  int64_t length_ = 0;               // main positions observed
  int64_t valid_ = 0;                // rows [0, valid_) of every module are built from committed tokens
  std::vector<float> hidden_;        // main hidden states of positions [valid_, length_)
  std::vector<int32_t> tokens_;      // tokens of positions [valid_, length_)
  // The round in progress.
  int32_t next_ = -1;
  std::vector<int32_t> drafts_;            // t_{L+1} .. chosen so far
  std::vector<std::vector<float>> out_;    // per module: output hidden states of its last pass
  std::vector<int32_t> row_tokens_;
  std::vector<float> step_hidden_, row_out_, logits_, head_scratch_;
};

}  // namespace fathom
