// The weights MTP drafts are computed with (model/mtp.h). A draft only proposes: the main model's
// verification decides, so the drafter may compute with cheaper weights than the modules' own and
// the output stays exact (greedy: token for token; sampling: speculative sampling is exact for any
// draft distribution q). Two savings, each costing only acceptance:
//   - a sub-vocabulary head (FR-Spec, Zhao et al. 2025): the shared head's rows of the tokens a
//     draft may propose (the most frequent ones); the logits of every other token are -inf, so q is
//     zero there, still a valid proposal;
//   - Q8_0 copies (8.5 bits per weight) of the modules' matrices held in 16 or 32 bits, so a draft
//     reads about half the bytes (decode of a small model streams its weights from the L3 cache, and
//     bytes are its cost). Norms, the router and kv_b (with its absorbed split) stay as they are;
//     under expert parallelism (model/expert_parallel.h) the modules' own weights are used.
// One instance serves every drafter of a model (read-only).
#pragma once
#include <cstdint>
#include <deque>
#include <vector>

#include "model/compute.h"
#include "model/weights.h"

namespace fathom {

class Model;

class DraftWeights {
 public:
  struct Options {
    std::vector<int32_t> vocab;  // token ids a draft may propose (in [0, vocab), no repeats); empty: all
    bool q8 = false;             // Q8_0 copies of the 16- and 32-bit matrices (see above)
  };
  DraftWeights(const Model& model, Options opt);

  int64_t vocab_size() const { return ids_.empty() ? vocab_ : int64_t(ids_.size()); }
  // Module m's weights for its decoder layer and eh_proj (the Q8_0 copies, or the module's own);
  // its head is logits()'s.
  const MtpWeights& module(int64_t m) const;
  // Module m's logits [vocab] from its output hidden state [hidden] (after shared_head.norm): the
  // sub-vocabulary's scores, -inf for every other token. scratch: the caller's, reused.
  void logits(const Exec& ex, int64_t m, const float* hidden, std::vector<float>& scratch, float* logits) const;

  // Matrices above this many bytes in all keep the modules' own weights (a copy of a large model's
  // MTP experts would cost more memory and load time than its drafts save).
  static constexpr int64_t kMaxCopyBytes = int64_t(1) << 30;

 private:
  // Rows `ids` of W (every row when ids is empty) as a new matrix: Q8_0 when q8, else the stored
  // bytes themselves (F8_E4M3 rows with their block scales, one block row per row).
  ops::WeightMatrix copy_rows(const ops::WeightMatrix& W, const std::vector<int32_t>& ids, bool q8);

  const Model& model_;
  int64_t vocab_ = 0;
  std::vector<int32_t> ids_;             // empty: the whole vocabulary
  std::vector<MtpWeights> modules_;      // the Q8_0 copies; empty: the model's own modules
  std::vector<ops::WeightMatrix> heads_;  // per module: the sub-vocabulary's rows (or the whole head)
  std::deque<std::vector<uint8_t>> bytes_;  // the copies' storage (a deque: never moves)
  std::deque<std::vector<float>> scales_;
};

}  // namespace fathom
