// What a speculative verification reads (issue 20; `fathom bench --verify`, src/cli/bench_verify.cpp):
// the verify step of 1+K tokens is one Model::decode_batch over the sequence's tokens (what
// SpeculativeDecoder runs), and what it costs beyond a one-token step is mostly the routed experts:
// each MoE layer reads every distinct expert its tokens pick. The picks come from the model's one
// router through Model::observe_routing.
#pragma once
#include <cstdint>
#include <vector>

#include "model/compute.h"
#include "model/kv_cache.h"

namespace fathom {

class Model;

// The routed experts of a run of tokens: for each layer of the main model (dense layers: none),
// token t's picks are experts[layer][t * k .. (t+1) * k).
struct TokenRoutes {
  int64_t k = 0;  // num_experts_per_tok
  std::vector<std::vector<int32_t>> experts;

  int64_t tokens(int64_t layer) const { return k ? int64_t(experts[size_t(layer)].size()) / k : 0; }
  // Distinct experts the first n tokens pick in `layer`; distinct_total sums over the layers.
  int64_t distinct(int64_t layer, int64_t n) const;
  int64_t distinct_total(int64_t n) const;
  // Mean over the MoE layers and consecutive token pairs of |E(t) ∩ E(t+1)| / k; *pairs counts them.
  double consecutive_share(int64_t* pairs = nullptr) const;
};

// One decode / verify step of n tokens of one sequence appended to `cache` (Model::decode_batch with
// counts = {n}), which is cut back to its length afterwards, so that steps repeat at one depth.
// logits: [n, vocab] or null. routes: if not null, gets the step's routed experts.
void verify_step(const Model& m, const Exec& ex, const int32_t* tokens, int64_t n, LatentCache& cache,
                 float* logits = nullptr, TokenRoutes* routes = nullptr);

// The routed experts of n tokens fed one step each (one-token decode), the cache cut back afterwards:
// the per-token reference the verify step's picks are checked against, and the consecutive pairs.
TokenRoutes route_one_by_one(const Model& m, const Exec& ex, const int32_t* tokens, int64_t n, LatentCache& cache);

}  // namespace fathom
