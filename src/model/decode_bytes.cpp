#include "model/decode_bytes.h"

#include "model/mla_fast.h"
#include "model/model.h"

namespace fathom {

uint64_t matrix_bytes(const WeightMatrix& w) {
  if (w.empty()) return 0;
  uint64_t b = uint64_t(w.rows) * uint64_t(ops::weight_row_bytes(w.format, w.cols));
  if (w.scale_inv)
    b += uint64_t((w.rows + w.block_rows - 1) / w.block_rows) * uint64_t((w.cols + w.block_cols - 1) / w.block_cols) *
         sizeof(float);
  return b;
}

uint64_t mlp_bytes(const MlpWeights& m) {
  return matrix_bytes(m.gate_proj) + matrix_bytes(m.up_proj) + matrix_bytes(m.down_proj);
}

namespace {

uint64_t attention_bytes(const AttentionWeights& a) {
  uint64_t b = matrix_bytes(a.q_proj) + matrix_bytes(a.q_a_proj) + matrix_bytes(a.q_b_proj) +
               matrix_bytes(a.kv_a_proj_with_mqa) + matrix_bytes(a.o_proj);
  if (!a.absorbed) return b + matrix_bytes(a.kv_b_proj);
  for (size_t h = 0; h < a.absorbed->uk_t.size(); ++h)
    b += matrix_bytes(a.absorbed->uk_t[h]) + matrix_bytes(a.absorbed->uv[h]);
  return b;
}

// A MoE layer's bytes read whatever its tokens: the shared experts and the router's f32 weights.
uint64_t moe_fixed_bytes(const MoeWeights& moe) {
  return moe.gate.weight.size() * sizeof(float) + (moe.has_shared ? mlp_bytes(moe.shared_experts) : 0);
}

}  // namespace

DecodeBytes decode_bytes(const Model& m) {
  const ModelConfig& c = m.config();
  const ModelWeights& w = m.weights();
  DecodeBytes d;
  d.layers = int64_t(w.layers.size());
  d.experts_per_token = c.num_experts_per_tok;
  d.head = uint64_t(ops::weight_row_bytes(w.embed_tokens.format, c.hidden_size)) + matrix_bytes(w.lm_head);
  for (const LayerWeights& L : w.layers) {
    d.attention += attention_bytes(L.attn);
    if (L.is_moe) {
      ++d.moe_layers;
      d.shared += moe_fixed_bytes(L.moe);
      d.expert = mlp_bytes(L.moe.experts[0]);
    } else {
      d.dense_mlp += mlp_bytes(L.mlp);
    }
  }
  if (!w.mtp.empty()) {  // the draft: eh_proj, one decoder layer, the shared head (embedding shared)
    const MtpWeights& p = w.mtp[0];
    const MoeWeights& moe = p.layer.moe;
    d.mtp = matrix_bytes(p.eh_proj) + attention_bytes(p.layer.attn) + matrix_bytes(p.shared_head_head) +
            (p.layer.is_moe ? moe_fixed_bytes(moe) + uint64_t(c.num_experts_per_tok) * mlp_bytes(moe.experts[0])
                            : mlp_bytes(p.layer.mlp));
  }
  return d;
}

}  // namespace fathom
