#include "training/mla.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace fathom::train {

void MlaActs::declare(Arena& a, const ModelConfig& c, int64_t B, int64_t T, const KeptF32& kept) {
  const int64_t N = B * T, nh = c.num_attention_heads;
  if (c.q_lora_rank > 0) {
    a.take(&q_a, N * c.q_lora_rank);
    kept.take(a, &q_a_norm, N * c.q_lora_rank);
    a.take(&q_a_rstd, N);
  }
  a.take(&q, N * nh * c.qk_head_dim());
  a.take(&c_raw, N * c.kv_lora_rank);
  kept.take(a, &this->c, N * c.kv_lora_rank);
  a.take(&c_rstd, N);
  a.take(&k_pe, N * c.qk_rope_head_dim);
  a.take(&kv, N * nh * (c.qk_nope_head_dim + c.v_head_dim));
  a.take(&att, B * nh * T * T);
  kept.take(a, &o, N * nh * c.v_head_dim);
}

void mla_declare_scratch(Arena& a, Scratch& s, const ModelConfig& c, int64_t B, int64_t T) {
  const int64_t N = B * T, nh = c.num_attention_heads, r = c.kv_lora_rank, dr = c.qk_rope_head_dim;
  a.take(&s.kv_a, N * (r + dr));
  a.take(&s.dq, N * nh * c.qk_head_dim());
  a.take(&s.dq_a, N * std::max<int64_t>(c.q_lora_rank, 1));
  a.take(&s.dq_a_norm, N * std::max<int64_t>(c.q_lora_rank, 1));
  a.take(&s.dkv_a, N * (r + dr));
  a.take(&s.dc, N * r);
  a.take(&s.dc_raw, N * r);
  a.take(&s.dk_pe, N * dr);
  a.take(&s.dk_pe_heads, N * nh * dr);
  a.take(&s.dkv, N * nh * (c.qk_nope_head_dim + c.v_head_dim));
  a.take(&s.dattn, N * nh * c.v_head_dim);
  a.take(&s.ds, B * nh * T);
}

void attention_forward(const LayerCtx& ctx, float* o, float* att, const float* q, const float* kv, const float* k_pe) {
  const ModelConfig& c = *ctx.cfg;
  const int64_t B = ctx.B, T = ctx.T, nh = c.num_attention_heads, dn = c.qk_nope_head_dim,
                dr = c.qk_rope_head_dim, dv = c.v_head_dim, dq = c.qk_head_dim(), dkv = dn + dv;
  const float scale = float(c.softmax_scale());
  parallel_for(ctx.ops, B * nh, [&](int64_t task) {
    const int64_t b = task / nh, h = task % nh;
    // The head's keys with one row per dimension, kt[d * T + u] ([k_nope | k_pe]): a query's scores
    // are then FMAs across the keys (vectorised), dimension after dimension, so each key's score is
    // the same sum in the same order (d ascending) as its dot product written out.
    thread_local std::vector<float> kt_rows;
    kt_rows.resize(size_t(dq * T));
    float* kt = kt_rows.data();
    for (int64_t u = 0; u < T; ++u) {
      const float* ku = kv + ((b * T + u) * nh + h) * dkv;
      const float* kp = k_pe + (b * T + u) * dr;
      for (int64_t d = 0; d < dn; ++d) kt[d * T + u] = ku[d];
      for (int64_t d = 0; d < dr; ++d) kt[(dn + d) * T + u] = kp[d];
    }
    for (int64_t t = 0; t < T; ++t) {
      const float* qt = q + ((b * T + t) * nh + h) * dq;
      float* p = att + ((b * nh + h) * T + t) * T;
      std::fill(p, p + t + 1, 0.0f);
      for (int64_t d = 0; d < dq; ++d) {
        const float qd = qt[d];
        const float* kd = kt + d * T;
        for (int64_t u = 0; u <= t; ++u) p[u] += qd * kd[u];
      }
      float mx = -INFINITY;
      for (int64_t u = 0; u <= t; ++u) {
        p[u] *= scale;
        mx = std::max(mx, p[u]);
      }
      float sum = 0;
      for (int64_t u = 0; u <= t; ++u) {
        p[u] = std::exp(p[u] - mx);
        sum += p[u];
      }
      const float inv = 1.0f / sum;
      for (int64_t u = 0; u <= t; ++u) p[u] *= inv;
      for (int64_t u = t + 1; u < T; ++u) p[u] = 0.0f;
      float* ot = o + ((b * T + t) * nh + h) * dv;
      std::fill(ot, ot + dv, 0.0f);
      for (int64_t u = 0; u <= t; ++u) {
        const float* vu = kv + ((b * T + u) * nh + h) * dkv + dn;
        for (int64_t d = 0; d < dv; ++d) ot[d] += p[u] * vu[d];
      }
    }
  });
}

void attention_backward(const LayerCtx& ctx, float* dq, float* dkv, float* dk_pe_heads, const float* dout,
                        const float* att, const float* q, const float* kv, const float* k_pe, float* ds) {
  const ModelConfig& c = *ctx.cfg;
  const int64_t B = ctx.B, T = ctx.T, nh = c.num_attention_heads, dn = c.qk_nope_head_dim,
                dr = c.qk_rope_head_dim, dv = c.v_head_dim, dqd = c.qk_head_dim(), dkv_d = dn + dv;
  const float scale = float(c.softmax_scale());
  // One task per (sequence, head) owns that head's slices of dq, dkv and dk_pe_heads: no races.
  parallel_for(ctx.ops, B * nh, [&](int64_t task) {
    const int64_t b = task / nh, h = task % nh;
    float* dsr = ds + task * T;
    // The head's values with one row per dimension (vt[d * T + u]), for dp = do·v across the keys
    // at once, in the order of the dot product written out (as the forward's scores).
    thread_local std::vector<float> vt_rows;
    vt_rows.resize(size_t(dv * T));
    float* vt = vt_rows.data();
    // The head's key gradients likewise (dkt[d * T + u], [k_nope | k_pe]), summed over the queries in
    // their order and added into dkv / dk_pe_heads at the end.
    thread_local std::vector<float> dk_rows;
    dk_rows.assign(size_t(dqd * T), 0.0f);
    float* dkt = dk_rows.data();
    for (int64_t u = 0; u < T; ++u) {
      const float* vu = kv + ((b * T + u) * nh + h) * dkv_d + dn;
      for (int64_t d = 0; d < dv; ++d) vt[d * T + u] = vu[d];
    }
    for (int64_t t = 0; t < T; ++t) {
      const float* p = att + ((b * nh + h) * T + t) * T;
      const float* dot = dout + ((b * T + t) * nh + h) * dv;
      const float* qt = q + ((b * T + t) * nh + h) * dqd;
      float* dqt = dq + ((b * T + t) * nh + h) * dqd;
      std::fill(dsr, dsr + t + 1, 0.0f);
      for (int64_t d = 0; d < dv; ++d) {  // dp = do·v
        const float dd = dot[d];
        const float* vd = vt + d * T;
        for (int64_t u = 0; u <= t; ++u) dsr[u] += dd * vd[u];
      }
      float sum = 0;
      for (int64_t u = 0; u <= t; ++u) {  // dv += p do
        float* dvu = dkv + ((b * T + u) * nh + h) * dkv_d + dn;
        for (int64_t d = 0; d < dv; ++d) dvu[d] += p[u] * dot[d];
        sum += p[u] * dsr[u];
      }
      for (int64_t u = 0; u <= t; ++u) dsr[u] = p[u] * (dsr[u] - sum) * scale;  // softmax backward: g
      for (int64_t u = 0; u <= t; ++u) {  // dq += g k
        const float g = dsr[u];
        const float* ku = kv + ((b * T + u) * nh + h) * dkv_d;
        const float* kp = k_pe + (b * T + u) * dr;
        for (int64_t d = 0; d < dn; ++d) dqt[d] += g * ku[d];
        for (int64_t d = 0; d < dr; ++d) dqt[dn + d] += g * kp[d];
      }
      for (int64_t d = 0; d < dqd; ++d) {  // dk += g q, across the keys
        const float qd = qt[d];
        float* dkd = dkt + d * T;
        for (int64_t u = 0; u <= t; ++u) dkd[u] += dsr[u] * qd;
      }
    }
    for (int64_t u = 0; u < T; ++u) {
      float* dku = dkv + ((b * T + u) * nh + h) * dkv_d;
      float* dkp = dk_pe_heads + ((b * T + u) * nh + h) * dr;
      for (int64_t d = 0; d < dn; ++d) dku[d] += dkt[d * T + u];
      for (int64_t d = 0; d < dr; ++d) dkp[d] += dkt[(dn + d) * T + u];
    }
  });
}

void mla_forward(const LayerCtx& ctx, float* out, MlaActs& a, const LinearIn& inp, const AttentionWeights& w) {
  const ModelConfig& c = *ctx.cfg;
  const int64_t N = ctx.N(), T = ctx.T, H = c.hidden_size, nh = c.num_attention_heads, dn = c.qk_nope_head_dim,
                dr = c.qk_rope_head_dim, dq = c.qk_head_dim(), r = c.kv_lora_rank, qr = c.q_lora_rank;
  const float eps = float(c.rms_norm_eps);
  if (qr > 0) {
    linear_forward(ctx.linear(), a.q_a, inp, f32(w.q_a_proj), N, H, qr);
    rmsnorm_forward(a.q_a_norm, a.q_a_rstd, a.q_a, f32(w.q_a_layernorm), N, qr, eps);
    a.q_a_norm_in = keep_input(ctx.linear(), a.q_a_norm, N, qr, a.q_a_norm_tiles);
    linear_forward(ctx.linear(), a.q, a.q_a_norm_in, f32(w.q_b_proj), N, qr, nh * dq);
  } else {
    linear_forward(ctx.linear(), a.q, inp, f32(w.q_proj), N, H, nh * dq);
  }
  for (int64_t n = 0; n < N; ++n) {
    const int64_t t = n % T;
    for (int64_t h = 0; h < nh; ++h)
      rope_forward(a.q + (n * nh + h) * dq + dn, ctx.rope_cos + t * (dr / 2), ctx.rope_sin + t * (dr / 2), dr);
  }
  float* kv_a = ctx.s->kv_a;  // [N, r + dr]
  linear_forward(ctx.linear(), kv_a, inp, f32(w.kv_a_proj_with_mqa), N, H, r + dr);
  for (int64_t n = 0; n < N; ++n) {
    std::memcpy(a.c_raw + n * r, kv_a + n * (r + dr), r * sizeof(float));
    std::memcpy(a.k_pe + n * dr, kv_a + n * (r + dr) + r, dr * sizeof(float));
    const int64_t t = n % T;
    rope_forward(a.k_pe + n * dr, ctx.rope_cos + t * (dr / 2), ctx.rope_sin + t * (dr / 2), dr);
  }
  rmsnorm_forward(a.c, a.c_rstd, a.c_raw, f32(w.kv_a_layernorm), N, r, eps);
  a.c_in = keep_input(ctx.linear(), a.c, N, r, a.c_tiles);
  linear_forward(ctx.linear(), a.kv, a.c_in, f32(w.kv_b_proj), N, r, nh * (dn + c.v_head_dim));
  attention_forward(ctx, a.o, a.att, a.q, a.kv, a.k_pe);
  a.o_in = keep_input(ctx.linear(), a.o, N, nh * c.v_head_dim, a.o_tiles);
  linear_forward(ctx.linear(), out, a.o_in, f32(w.o_proj), N, nh * c.v_head_dim, H);
}

void mla_backward(const LayerCtx& ctx, float* dinp, AttentionWeights& dw, const float* dout, const MlaActs& a,
                  const LinearIn& inp, const AttentionWeights& w) {
  const ModelConfig& c = *ctx.cfg;
  const int64_t N = ctx.N(), T = ctx.T, H = c.hidden_size, nh = c.num_attention_heads, dn = c.qk_nope_head_dim,
                dr = c.qk_rope_head_dim, dv = c.v_head_dim, dq = c.qk_head_dim(), r = c.kv_lora_rank,
                qr = c.q_lora_rank;
  Scratch& s = *ctx.s;
  // o_proj
  std::fill(s.dattn, s.dattn + N * nh * dv, 0.0f);
  linear_backward(ctx.linear(), s.dattn, writable(dw.o_proj), dout, a.o_in, f32(w.o_proj), N, nh * dv, H);
  // attention core
  std::fill(s.dq, s.dq + N * nh * dq, 0.0f);
  std::fill(s.dkv, s.dkv + N * nh * (dn + dv), 0.0f);
  std::fill(s.dk_pe_heads, s.dk_pe_heads + N * nh * dr, 0.0f);
  attention_backward(ctx, s.dq, s.dkv, s.dk_pe_heads, s.dattn, a.att, a.q, a.kv, a.k_pe, s.ds);
  // kv_b_proj and the latent norm
  std::fill(s.dc, s.dc + N * r, 0.0f);
  linear_backward(ctx.linear(), s.dc, writable(dw.kv_b_proj), s.dkv, a.c_in, f32(w.kv_b_proj), N, r, nh * (dn + dv));
  std::fill(s.dc_raw, s.dc_raw + N * r, 0.0f);
  rmsnorm_backward(s.dc_raw, writable(dw.kv_a_layernorm), s.dc, a.c_raw, f32(w.kv_a_layernorm), a.c_rstd, N, r);
  // the shared rope key: sum over heads, rotate back, then kv_a_proj_with_mqa
  for (int64_t n = 0; n < N; ++n) {
    float* dk = s.dkv_a + n * (r + dr);
    std::memcpy(dk, s.dc_raw + n * r, r * sizeof(float));
    float* dkp = dk + r;
    std::fill(dkp, dkp + dr, 0.0f);
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t d = 0; d < dr; ++d) dkp[d] += s.dk_pe_heads[(n * nh + h) * dr + d];
    const int64_t t = n % T;
    rope_backward(dkp, ctx.rope_cos + t * (dr / 2), ctx.rope_sin + t * (dr / 2), dr);
  }
  linear_backward(ctx.linear(), dinp, writable(dw.kv_a_proj_with_mqa), s.dkv_a, inp, f32(w.kv_a_proj_with_mqa), N, H, r + dr);
  // queries: rotate q_pe's gradient back, then the projections
  for (int64_t n = 0; n < N; ++n) {
    const int64_t t = n % T;
    for (int64_t h = 0; h < nh; ++h)
      rope_backward(s.dq + (n * nh + h) * dq + dn, ctx.rope_cos + t * (dr / 2), ctx.rope_sin + t * (dr / 2), dr);
  }
  if (qr > 0) {
    std::fill(s.dq_a_norm, s.dq_a_norm + N * qr, 0.0f);
    linear_backward(ctx.linear(), s.dq_a_norm, writable(dw.q_b_proj), s.dq, a.q_a_norm_in, f32(w.q_b_proj), N, qr, nh * dq);
    std::fill(s.dq_a, s.dq_a + N * qr, 0.0f);
    rmsnorm_backward(s.dq_a, writable(dw.q_a_layernorm), s.dq_a_norm, a.q_a, f32(w.q_a_layernorm), a.q_a_rstd, N, qr);
    linear_backward(ctx.linear(), dinp, writable(dw.q_a_proj), s.dq_a, inp, f32(w.q_a_proj), N, H, qr);
  } else {
    linear_backward(ctx.linear(), dinp, writable(dw.q_proj), s.dq, inp, f32(w.q_proj), N, H, nh * dq);
  }
}

}  // namespace fathom::train
