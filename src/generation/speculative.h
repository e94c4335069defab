// Self-speculative decoding with the model's own MTP modules (DeepSeek-V3 §2.2; the semantics in
// docs/ARCHITECTURE.md). One round for a sequence whose main cache holds t_0 .. t_{L-1} and whose
// next token t_L is chosen but not yet fed:
//   1. draft   — the MTP modules propose d_1 .. d_K for t_{L+1} .. t_{L+K} (MtpDrafter, model/mtp.h),
//                each picked by the request's sampler from the draft distribution q;
//   2. verify  — ONE forward of the main model over [t_L, d_1 .. d_K] on the absorbed decode path
//                (Model::decode_batch with counts, several sequences at once) gives the target
//                logits of all 1+K positions;
//   3. accept  — speculative sampling (Leviathan et al. / Chen et al.): d_j is kept with probability
//                min(1, p(d_j) / q(d_j)), otherwise the round ends with a token drawn from
//                normalize(max(0, p - q)); if all K are kept, one more comes from p of the last row.
//                p and q are the sampler's distributions after the SAME penalties, temperature,
//                top-k, top-p and min-p (Sampler::distribution), each with the history as it is at
//                that position, so the tokens are distributed exactly as ordinary sampling's. Greedy
//                (temperature 0): p and q are one-hot, so this is "the longest prefix agreeing with
//                the target's argmax, then the target's argmax": token for token the output of greedy
//                decoding without MTP (bit-identical logits, see Model::decode_batch);
//   4. commit  — the main cache is cut to L + accepted + 1 rows (rows of rejected drafts dropped),
//                and the drafter gets the hidden states of the kept positions.
// A round therefore yields 1 .. K+1 tokens for one main-model pass.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "generation/sampler.h"
#include "model/compute.h"
#include "model/kv_cache.h"

namespace fathom {

class Model;
class MtpDrafter;
namespace tok { class Tokenizer; }

// The sub-vocabulary the MTP modules draft from (DraftWeights, model/mtp_draft_weights.h): n token ids, the most
// frequent first as far as the tokenizer tells. A byte-level BPE vocabulary numbers its merges in
// the order training made them, most frequent pair first, so ids rank tokens by frequency, except
// the 256 single-byte tokens every such vocabulary starts with: those that stand for a printable
// ASCII character, a space, a tab or a newline keep their place, the other single bytes (pieces
// of multi-byte characters, control codes) and ids the tokenizer does not know go last. The
// end-of-sequence token comes first. Which tokens are left out only costs acceptance, never
// exactness.
std::vector<int32_t> draft_vocabulary(const tok::Tokenizer& tok, int64_t vocab, int64_t n);
// The size the engine uses: a quarter of the vocabulary, at least 1024 tokens (the whole of a
// smaller one). Measured on models/default in docs/PERFORMANCE.md.
int64_t default_draft_vocabulary_size(int64_t vocab);

// A per-token constraint on what may come next (a JSON schema's mask), applied inside a round to the
// draft and the target logits alike: p and q are then both the constrained distributions, so the
// round still yields exactly the constrained sampler's tokens (greedy: the constrained argmax). Its
// state moves through the round's tokens; restart() puts it back where the request stands (t_L
// accepted), as each pass over the round begins.
class RoundMask {
 public:
  virtual ~RoundMask() = default;
  virtual void restart() = 0;
  // Sets the logits of tokens the current state forbids to -inf; false when none is allowed.
  virtual bool apply(std::span<float> logits) = 0;
  virtual void advance(int32_t token) = 0;
};

// The acceptance rule for one sequence, over the request's Sampler (its filters, its penalty history
// and its random stream: a run is reproducible for a given seed, though not the same stream as
// decoding without MTP, except greedy, which draws nothing).
class SpeculativeSampler {
 public:
  explicit SpeculativeSampler(Sampler& sampler) : sampler_(sampler), history_(sampler.params()) {}

  // Starts a round: the drafts that follow see the sampler's history as it is now (t_L accepted),
  // and the mask (may be null) where the request stands.
  void begin_round(RoundMask* mask = nullptr);
  // Picks the next draft from the draft model's logits [vocab]: q = the sampler's distribution with
  // the round's earlier drafts appended to its history (and masked); greedy: q's argmax, else a
  // draw from q. -1 when the mask leaves no draft token: the round drafts no further.
  int32_t draft(std::span<const float> draft_logits);
  int64_t drafts() const { return int64_t(drafts_.size()); }

  // Judges the round: target_logits is [drafts()+1, vocab], row j the main model's logits after t_L
  // and the first j drafts; first_position = L (for the error naming a non-finite row). Appends the
  // accepted drafts and then one token from the target to `out`; returns how many drafts were
  // accepted. The sampler's history is left as it was: the caller accepts the tokens it keeps
  // (stopping at EOS or a stop string), exactly as after Sampler::sample.
  int64_t verify(std::span<const float> target_logits, int64_t first_position, std::vector<int32_t>& out);

 private:
  int32_t draw(const std::vector<Candidate>& d);  // one token from d with the sampler's stream

  // The row with the mask applied (the row itself without a mask).
  std::span<const float> masked(std::span<const float> row, bool* any_allowed);

  Sampler& sampler_;
  RoundMask* mask_ = nullptr;
  std::vector<float> masked_;  // scratch, [vocab]
  Sampler history_;  // the sampler's history plus this round's drafts (its random stream unused)
  std::vector<int32_t> drafts_;
  std::vector<std::vector<Candidate>> q_;  // per draft: the distribution it was picked from
  std::vector<double> q_dense_;           // scratch, [vocab]: q of the row being judged, else 0
  std::vector<Candidate> residual_;       // scratch: normalize(max(0, p - q))
};

// One sequence's part in a speculative round (the engine keeps one per request).
struct SpeculativeSequence {
  LatentCache* cache = nullptr;             // main cache, length L
  MtpDrafter* drafter = nullptr;            // length() == cache->length(); null: no drafts (plain decode)
  SpeculativeSampler* sampler = nullptr;    // over the request's Sampler
  RoundMask* mask = nullptr;                // a constraint on the tokens (null: none)
  int32_t next = -1;                        // t_L: chosen, accepted into the sampler, not yet fed
  int64_t max_drafts = 1;                   // K this round; clamped to the cache's room; 0: plain decode
  // Results of the round.
  std::vector<int32_t> tokens;              // t_{L+1} ..: the accepted drafts, then the target's token
  int64_t drafted = 0, accepted = 0;
};

// Runs speculative rounds for a batch of sequences, reusing its scratch buffers between calls.
class SpeculativeDecoder {
 public:
  explicit SpeculativeDecoder(const Model& model) : model_(model) {}

  // One round for every sequence: each drafts (MTP modules, one sequence after another), then ONE
  // main-model forward verifies every sequence's 1+K tokens together, then each accepts, cuts its
  // main cache to L + accepted + 1 and hands the kept positions' hidden states to its drafter.
  // Afterwards the caller feeds nothing: the next round's t_L is seq.tokens.back() (once accepted
  // into the sampler, unless it ended the generation).
  void step(const Exec& ex, std::span<SpeculativeSequence* const> seqs);

 private:
  const Model& model_;
  std::vector<int32_t> tokens_;
  std::vector<int64_t> counts_, lengths_;
  std::vector<LatentCache*> caches_;
  std::vector<float> logits_, hidden_;
};

}  // namespace fathom
