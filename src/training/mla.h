// Multi-head latent attention for training (DeepSeek-V2 §2.1), the expanded form:
//   q      = q_b(RMSNorm(q_a(x)))  or  q_proj(x)        -> per head [q_nope (dn) | q_pe (dr)]
//   [c|kr] = kv_a_proj_with_mqa(x);  c = RMSNorm(c)     -> latent (r) + one RoPE key shared by heads
//   [k_nope | v] per head = kv_b_proj(c)
//   p = causal softmax((q_nope·k_nope + rope(q_pe)·rope(kr)) · softmax_scale),  out = o_proj(Σ p v)
// Sequences are independent: rows are [B, T] and position t of each sequence has RoPE angle t.
#pragma once
#include "training/layer.h"
#include "training/params.h"

namespace fathom::train {

struct MlaActs {
  float *q_a = nullptr, *q_a_norm = nullptr, *q_a_rstd = nullptr;  // [N, qr] x2, [N]  (q_lora only)
  float* q = nullptr;                                                // [N, nh, dq], q_pe rotated
  float *c_raw = nullptr, *c = nullptr, *c_rstd = nullptr;           // [N, r] x2, [N]
  float* k_pe = nullptr;                                             // [N, dr] rotated
  float* kv = nullptr;                                               // [N, nh, dn + dv]
  float* att = nullptr;                                              // [B, nh, T, T] probabilities
  float* o = nullptr;                                                // [N, nh * dv]
  // The inputs of q_b, kv_b and o_proj as kept for the backward (q_a_norm, c and o are KeptF32).
  LowpMatrix q_a_norm_tiles, c_tiles, o_tiles;
  LinearIn q_a_norm_in, c_in, o_in;
  void declare(Arena& a, const ModelConfig& c, int64_t B, int64_t T, const KeptF32& kept = {});
};

// Scratch floats MLA needs (declared into Scratch by the model).
void mla_declare_scratch(Arena& a, Scratch& s, const ModelConfig& c, int64_t B, int64_t T);

// out[N, H] = MLA(inp[N, H])
void mla_forward(const LayerCtx& ctx, float* out, MlaActs& acts, const LinearIn& inp, const AttentionWeights& weight);
// dinp[N, H] += ∂/∂inp; dweight += ∂/∂weight
void mla_backward(const LayerCtx& ctx, float* dinp, AttentionWeights& dweight, const float* dout, const MlaActs& acts,
                  const LinearIn& inp, const AttentionWeights& weight);

// The causal attention core alone (exposed for gradient tests): q [N, nh, dq], kv [N, nh, dn+dv],
// k_pe [N, dr] -> o [N, nh*dv], probabilities att [B, nh, T, T].
void attention_forward(const LayerCtx& ctx, float* o, float* att, const float* q, const float* kv, const float* k_pe);
// dq, dkv, dk_pe_heads [N, nh, dr] are added into; ds is [B*nh*T] scratch.
void attention_backward(const LayerCtx& ctx, float* dq, float* dkv, float* dk_pe_heads, const float* dout,
                        const float* att, const float* q, const float* kv, const float* k_pe, float* ds);

}  // namespace fathom::train
