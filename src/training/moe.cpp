#include "training/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/experts.h"
#include "model/router.h"
#include "training/expert_exchange.h"

namespace fathom::train {

void MlpActs::declare(Arena& arena, int64_t rows, int64_t inter, const KeptF32* kept) {
  arena.take(&g, rows * inter);
  arena.take(&u, rows * inter);
  keep_a = kept != nullptr;
  if (kept)
    kept->take(arena, &a, rows * inter);
  else
    arena.take(&a, rows * inter);
}

void mlp_forward(const LayerCtx& ctx, float* out, MlpActs& acts, const LinearIn& inp, const MlpWeights& w,
                 int64_t N) {
  const int64_t H = ctx.cfg->hidden_size, I = w.gate_proj.rows;
  linear_forward(ctx.linear(), acts.g, inp, f32(w.gate_proj), N, H, I);
  linear_forward(ctx.linear(), acts.u, inp, f32(w.up_proj), N, H, I);
  swiglu_forward(acts.a, acts.g, acts.u, N * I);
  acts.a_in = acts.keep_a ? keep_input(ctx.linear(), acts.a, N, I, acts.a_tiles) : LinearIn(acts.a);
  linear_forward(ctx.linear(), out, acts.a_in, f32(w.down_proj), N, I, H);
}

void mlp_backward(const LayerCtx& ctx, float* dinp, MlpWeights& dw, const float* dout, const MlpActs& acts,
                  const LinearIn& inp, const MlpWeights& w, int64_t N) {
  const int64_t H = ctx.cfg->hidden_size, I = w.gate_proj.rows;
  Scratch& s = *ctx.s;
  std::fill(s.da, s.da + N * I, 0.0f);
  const LinearIn a_in = acts.keep_a ? acts.a_in : LinearIn(acts.a);
  linear_backward(ctx.linear(), s.da, writable(dw.down_proj), dout, a_in, f32(w.down_proj), N, I, H);
  swiglu_backward(s.dg, s.du, s.da, acts.g, acts.u, N * I);
  linear_backward(ctx.linear(), dinp, writable(dw.gate_proj), s.dg, inp, f32(w.gate_proj), N, H, I);
  linear_backward(ctx.linear(), dinp, writable(dw.up_proj), s.du, inp, f32(w.up_proj), N, H, I);
}

int64_t expert_rows(const ModelConfig& c, int64_t N, const ExpertShard& shard) {
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok;
  if (!shard.active()) return N * K;
  // A token picks K distinct experts, of which at most all of one rank's; every rank sends its N.
  const int64_t per_rank = (E + shard.ranks - 1) / shard.ranks;
  return int64_t(shard.ranks) * N * std::min(K, per_rank);
}

void MoeActs::declare(Arena& a, const ModelConfig& c, int64_t N, const KeptF32& kept, const ExpertShard& shard) {
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok, H = c.hidden_size;
  const int64_t rows = expert_rows(c, N, shard);
  a.take(&scores, N * E);
  a.take(&chosen, N * K);
  a.take(&weight, N * K);
  a.take(&sel_sum, N);
  a.take(&count, E);
  a.take(&offset, E + 1);
  a.take(&slot, N * K);
  a.take(&slot_token, N * K);
  a.take(&xs, N * K * H);
  a.take(&y, N * K * H);
  a.take(&e_offset, E + 1);
  if (shard.active()) {
    a.take(&recv_count, int64_t(shard.ranks) * E);
    a.take(&xe, rows * H);
    a.take(&ye, rows * H);
  }
  experts.declare(a, rows, c.moe_intermediate_size);
  if (c.n_shared_experts > 0) shared.declare(a, N, c.moe_intermediate_size * c.n_shared_experts, &kept);
}

void ffn_declare_scratch(Arena& a, Scratch& s, const ModelConfig& c, int64_t N, const ExpertShard& shard) {
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok, H = c.hidden_size;
  const int64_t rows = E > 0 ? expert_rows(c, N, shard) : 0;
  int64_t inter = N * c.intermediate_size;
  if (E > 0) inter = std::max({inter, rows * c.moe_intermediate_size, N * c.moe_intermediate_size * c.n_shared_experts});
  a.take(&s.da, inter);
  a.take(&s.dg, inter);
  a.take(&s.du, inter);
  if (E == 0) return;
  a.take(&s.dy, N * K * H);
  a.take(&s.dxs, N * K * H);
  if (shard.active()) {
    a.take(&s.dye, rows * H);
    a.take(&s.dxe, rows * H);
    a.take(&s.stage, rows * H);
  }
  a.take(&s.dscores, N * E);
  a.take(&s.dwk, N * K);
  a.take(&s.choice, E);
  a.take(&s.group, c.n_group);
  a.take(&s.seq_f, E);
  a.take(&s.taken, std::max(E, c.n_group));
}

void moe_forward(const LayerCtx& ctx, float* out, MoeActs& a, const float* inp, const MoeWeights& w) {
  const ModelConfig& c = *ctx.cfg;
  const int64_t N = ctx.N(), H = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok,
                I = c.moe_intermediate_size;
  Scratch& s = *ctx.s;
  // Router scores, selection and gate weights: the inference router's own functions (model/router.h).
  matmul_forward(ctx.ops, a.scores, inp, f32(w.gate.weight), N, H, E);
  const RouterScratch scratch{s.choice, s.group, s.taken};
  for (int64_t n = 0; n < N; ++n) {
    router_scores(c.scoring_func, a.scores + n * E, E);
    a.sel_sum[n] = float(select_experts(c, a.scores + n * E, f32(w.gate.e_score_correction_bias), scratch,
                                        a.chosen + n * K, a.weight + n * K));
  }
  // Group (token, k) pairs by expert: expert e owns slots [offset[e], offset[e+1]) (model/experts.h).
  assign_expert_slots(a.chosen, N, K, E, a.count, a.offset, a.slot, a.slot_token);
  gather_expert_inputs(inp, a.slot_token, N * K, H, a.xs);
  // Each expert over its rows: this rank's slots, or under expert parallelism the rows every rank
  // routed to the experts held here (expert_exchange.h).
  expert_dispatch(ctx, a);
  const bool ep = ctx.shard.active();
  const float* xe = ep ? a.xe : a.xs;
  float* ye = ep ? a.ye : a.y;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t off = a.e_offset[e], rows = a.e_offset[e + 1] - off;
    if (rows == 0) continue;
    MlpActs ea = a.experts.rows_from(off, I);
    mlp_forward(ctx, ye + off * H, ea, xe + off * H, w.experts[e], rows);
  }
  from_experts(ctx, a, ye, a.y);
  // Combine: shared experts plus the weighted routed outputs.
  if (w.has_shared)
    mlp_forward(ctx, out, a.shared, inp, w.shared_experts, N);
  else
    std::fill(out, out + N * H, 0.0f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const float g = a.weight[n * K + k];
      const float* y = a.y + int64_t(a.slot[n * K + k]) * H;
      float* o = out + n * H;
      for (int64_t d = 0; d < H; ++d) o[d] += g * y[d];
    }
  // Sequence-wise balance loss (its value; the gradient is added in moe_backward).
  a.balance_loss = 0;
  if (ctx.balance_alpha > 0) {
    const int64_t T = ctx.T;
    for (int64_t b = 0; b < ctx.B; ++b) {
      std::fill(s.seq_f, s.seq_f + E, 0.0f);
      std::fill(s.choice, s.choice + E, 0.0f);  // P_i
      for (int64_t t = 0; t < T; ++t) {
        const int64_t n = b * T + t;
        for (int64_t k = 0; k < K; ++k) s.seq_f[a.chosen[n * K + k]] += float(E) / float(K * T);
        double tot = 0;
        for (int64_t e = 0; e < E; ++e) tot += a.scores[n * E + e];
        for (int64_t e = 0; e < E; ++e) s.choice[e] += float(a.scores[n * E + e] / tot / double(T));
      }
      double l = 0;
      for (int64_t e = 0; e < E; ++e) l += double(s.seq_f[e]) * s.choice[e];
      a.balance_loss += ctx.balance_alpha * l / double(ctx.B);
    }
  }
}

void moe_backward(const LayerCtx& ctx, float* dinp, MoeWeights& dw, const float* dout, const MoeActs& a,
                  const float* inp, const MoeWeights& w) {
  const ModelConfig& c = *ctx.cfg;
  const int64_t N = ctx.N(), H = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok,
                I = c.moe_intermediate_size;
  Scratch& s = *ctx.s;
  if (w.has_shared) mlp_backward(ctx, dinp, dw.shared_experts, dout, a.shared, inp, w.shared_experts, N);
  // out[n] += g_k y_slot:  dg_k = dout[n]·y_slot,  dy_slot = g_k dout[n]
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t sl = a.slot[n * K + k];
      const float* y = a.y + sl * H;
      const float* d = dout + n * H;
      float* dy = s.dy + sl * H;
      const float g = a.weight[n * K + k];
      float dot = 0;
      for (int64_t i = 0; i < H; ++i) {
        dot += d[i] * y[i];
        dy[i] = g * d[i];
      }
      s.dwk[n * K + k] = dot;
    }
  // The reverse exchange: ∂L/∂y to the experts' ranks, ∂L/∂x of their rows back.
  const bool ep = ctx.shard.active();
  const float* xe = ep ? a.xe : a.xs;
  float* dye = ep ? s.dye : s.dy;
  float* dxe = ep ? s.dxe : s.dxs;
  to_experts(ctx, a, s.dy, dye);
  std::fill(dxe, dxe + int64_t(a.e_offset[E]) * H, 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t off = a.e_offset[e], rows = a.e_offset[e + 1] - off;
    if (rows == 0) continue;
    mlp_backward(ctx, dxe + off * H, dw.experts[e], dye + off * H, a.experts.rows_from(off, I), xe + off * H,
                 w.experts[e], rows);
  }
  from_experts(ctx, a, dxe, s.dxs);
  for (int64_t sl = 0; sl < N * K; ++sl) {
    float* dx = dinp + int64_t(a.slot_token[sl]) * H;
    const float* d = s.dxs + sl * H;
    for (int64_t i = 0; i < H; ++i) dx[i] += d[i];
  }
  // Router: gate weights -> scores.  g_k = rsf s_k / S (norm) or rsf s_k.
  std::fill(s.dscores, s.dscores + N * E, 0.0f);
  const float rsf = float(c.routed_scaling_factor);
  const bool norm = c.norm_topk_prob && K > 1;
  for (int64_t n = 0; n < N; ++n) {
    const int32_t* ch = a.chosen + n * K;
    const float* sc = a.scores + n * E;
    float* ds = s.dscores + n * E;
    const float* dg = s.dwk + n * K;
    if (norm) {
      const double S = a.sel_sum[n];
      double dot = 0;
      for (int64_t k = 0; k < K; ++k) dot += double(dg[k]) * sc[ch[k]];
      for (int64_t k = 0; k < K; ++k) ds[ch[k]] += float(rsf * (dg[k] / S - dot / (S * S)));
    } else {
      for (int64_t k = 0; k < K; ++k) ds[ch[k]] += rsf * dg[k];
    }
  }
  // Balance loss: ∂L/∂s'_{i,t} = α f_i / (T B), then through s' = s / Σ s.
  if (ctx.balance_alpha > 0) {
    const int64_t T = ctx.T;
    for (int64_t b = 0; b < ctx.B; ++b) {
      std::fill(s.seq_f, s.seq_f + E, 0.0f);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t k = 0; k < K; ++k) s.seq_f[a.chosen[(b * T + t) * K + k]] += float(E) / float(K * T);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t n = b * T + t;
        const float* sc = a.scores + n * E;
        double tot = 0, dot = 0;
        for (int64_t e = 0; e < E; ++e) tot += sc[e];
        const double gscale = ctx.balance_alpha / double(T * ctx.B);
        for (int64_t e = 0; e < E; ++e) dot += gscale * s.seq_f[e] * (sc[e] / tot);
        for (int64_t e = 0; e < E; ++e) s.dscores[n * E + e] += float((gscale * s.seq_f[e] - dot) / tot);
      }
    }
  }
  // Scores -> router logits.
  for (int64_t n = 0; n < N; ++n) {
    const float* sc = a.scores + n * E;
    float* ds = s.dscores + n * E;
    if (c.scoring_func == ScoringFunc::Softmax) {
      double dot = 0;
      for (int64_t e = 0; e < E; ++e) dot += double(ds[e]) * sc[e];
      for (int64_t e = 0; e < E; ++e) ds[e] = float(sc[e] * (ds[e] - dot));
    } else {
      for (int64_t e = 0; e < E; ++e) ds[e] *= sc[e] * (1.0f - sc[e]);
    }
  }
  matmul_backward(ctx.ops, dinp, writable(dw.gate.weight), s.dscores, inp, f32(w.gate.weight), N, H, E);
}

}  // namespace fathom::train
