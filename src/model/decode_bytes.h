// The weight bytes one decode step reads, by part: what `fathom bench` turns into GB/s, and what its
// verify measurement (src/cli/bench_verify.cpp) splits into the part a step reads once whatever its
// tokens and the routed experts, read once per distinct expert the step's tokens pick. The parts are
// reported apart so that a cut model (a few layers of V3) extrapolates to the whole one.
#pragma once
#include <cstdint>

#include "model/weights.h"

namespace fathom {

class Model;

// Bytes of one matrix as stored: its rows in the storage format, plus FP8's f32 block scales.
uint64_t matrix_bytes(const WeightMatrix& w);
// gate_proj + up_proj + down_proj.
uint64_t mlp_bytes(const MlpWeights& m);

struct DecodeBytes {
  uint64_t attention = 0;  // every layer's projections (the absorbed path's per-head kv_b copies, not kv_b)
  uint64_t dense_mlp = 0;  // the dense layers' MLPs
  uint64_t shared = 0;     // the MoE layers' shared experts and f32 router weights
  uint64_t head = 0;       // one embedding row + lm_head
  uint64_t expert = 0;     // one routed expert (all have one shape)
  uint64_t mtp = 0;        // one MTP module with num_experts_per_tok routed experts (0: none)
  int64_t layers = 0, moe_layers = 0, experts_per_token = 0;

  // Read once per step, whatever its tokens.
  uint64_t fixed() const { return attention + dense_mlp + shared + head; }
  // A step whose tokens pick `distinct` routed experts in all (summed over the MoE layers).
  uint64_t step(int64_t distinct) const { return fixed() + uint64_t(distinct) * expert; }
  // A one-token step: num_experts_per_tok experts per MoE layer.
  uint64_t one_token() const { return step(moe_layers * experts_per_token); }
};

DecodeBytes decode_bytes(const Model& m);

}  // namespace fathom
