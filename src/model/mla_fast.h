// The fast MLA attention kernels (both paths) built on ops::matmul; model/mla.cpp keeps the scalar
// reference versions they are tested against.
#pragma once
#include <memory>
#include <vector>

#include "model/compute.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "ops/weight.h"

namespace fathom {

struct AttentionWeights;

// kv_b_proj split per head for the absorbed path: W_UKᵀ [kv_lora_rank, qk_nope_head_dim] (a
// transposed copy, so q_lat = W_UKᵀ q_nope is a plain matrix-vector product) and W_UV
// [v_head_dim, kv_lora_rank]. Stored as BF16 for bf16 checkpoints (exact), Q8_0 for quantized
// ones, F32 otherwise (fp8 x block scale is not exact in bf16).
struct AbsorbedKvB {
  std::vector<ops::WeightMatrix> uk_t, uv;  // [heads]
  std::vector<uint8_t> storage;
};
std::shared_ptr<const AbsorbedKvB> make_absorbed_kv_b(const ModelConfig& c, const ops::WeightMatrix& kv_b);

// q: [T, heads, qk_head_dim] (q_pe rotated); the cache already holds positions < pos0 + T.
// attn_out: [T, heads * v_head_dim].
void attend_expanded_fast(const Exec& ex, const ModelConfig& c, const AttentionWeights& w, const float* q, int64_t T,
                          int64_t pos0, const LatentCache& cache, int64_t layer, float* attn_out);
void attend_absorbed_fast(const Exec& ex, const ModelConfig& c, const AttentionWeights& w, const float* q, int64_t T,
                          int64_t pos0, const LatentCache& cache, int64_t layer, float* attn_out);

}  // namespace fathom
