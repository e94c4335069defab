#include "training/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "model/rope.h"

namespace fathom::train {

void LayerActs::declare(Arena& a, const ModelConfig& c, bool is_moe, int64_t B, int64_t T, const KeptF32& kept,
                        const ExpertShard& shard) {
  const int64_t N = B * T, H = c.hidden_size;
  kept.take(a, &ln1, N * H);
  a.take(&ln1_rstd, N);
  attn.declare(a, c, B, T, kept);
  a.take(&res_mid, N * H);
  if (is_moe)
    a.take(&ln2, N * H);  // the router's input too, which stays f32
  else
    kept.take(a, &ln2, N * H);
  a.take(&ln2_rstd, N);
  if (is_moe)
    moe.declare(a, c, N, kept, shard);
  else
    mlp.declare(a, N, c.intermediate_size, &kept);
}

void decoder_layer_forward(const LayerCtx& ctx, float* out, LayerActs& a, const float* inp, const LayerWeights& w) {
  const ModelConfig& c = *ctx.cfg;
  const int64_t N = ctx.N(), H = c.hidden_size;
  const float eps = float(c.rms_norm_eps);
  rmsnorm_forward(a.ln1, a.ln1_rstd, inp, f32(w.input_layernorm), N, H, eps);
  a.ln1_in = keep_input(ctx.linear(), a.ln1, N, H, a.ln1_tiles);
  mla_forward(ctx, out, a.attn, a.ln1_in, w.attn);
  for (int64_t i = 0; i < N * H; ++i) a.res_mid[i] = inp[i] + out[i];
  rmsnorm_forward(a.ln2, a.ln2_rstd, a.res_mid, f32(w.post_attention_layernorm), N, H, eps);
  if (w.is_moe) {
    moe_forward(ctx, out, a.moe, a.ln2, w.moe);
  } else {
    a.ln2_in = keep_input(ctx.linear(), a.ln2, N, H, a.ln2_tiles);
    mlp_forward(ctx, out, a.mlp, a.ln2_in, w.mlp, N);
  }
  for (int64_t i = 0; i < N * H; ++i) out[i] += a.res_mid[i];
}

void decoder_layer_backward(const LayerCtx& ctx, float* dresid, LayerWeights& dw, const LayerActs& a, const float* inp,
                            const LayerWeights& w, float* dln) {
  const int64_t N = ctx.N(), H = ctx.cfg->hidden_size;
  std::fill(dln, dln + N * H, 0.0f);
  if (w.is_moe)
    moe_backward(ctx, dln, dw.moe, dresid, a.moe, a.ln2, w.moe);
  else
    mlp_backward(ctx, dln, dw.mlp, dresid, a.mlp, a.ln2_in, w.mlp, N);
  rmsnorm_backward(dresid, writable(dw.post_attention_layernorm), dln, a.res_mid, f32(w.post_attention_layernorm),
                   a.ln2_rstd, N, H);
  std::fill(dln, dln + N * H, 0.0f);
  mla_backward(ctx, dln, dw.attn, dresid, a.attn, a.ln1_in, w.attn);
  rmsnorm_backward(dresid, writable(dw.input_layernorm), dln, inp, f32(w.input_layernorm), a.ln1_rstd, N, H);
}

namespace {
// The largest matmul_backward scratch any linear layer of the model needs (rows: the routed experts'
// rows, expert_rows()).
int64_t max_matmul_scratch(const ModelConfig& c, int64_t N, int64_t rows) {
  const int64_t H = c.hidden_size, nh = c.num_attention_heads;
  const int64_t dims[][3] = {
      {N, H, c.vocab_size},
      {N, 2 * H, H},
      {N, H, std::max<int64_t>(c.q_lora_rank, 1)},
      {N, std::max<int64_t>(c.q_lora_rank, 1), nh * c.qk_head_dim()},
      {N, H, nh * c.qk_head_dim()},
      {N, H, c.kv_lora_rank + c.qk_rope_head_dim},
      {N, c.kv_lora_rank, nh * (c.qk_nope_head_dim + c.v_head_dim)},
      {N, nh * c.v_head_dim, H},
      {N, H, c.intermediate_size},
      {N, c.intermediate_size, H},
      {N, H, std::max<int64_t>(c.n_routed_experts, 1)},
      {rows, H, c.moe_intermediate_size},
      {rows, c.moe_intermediate_size, H},
      {N, H, c.moe_intermediate_size * c.n_shared_experts},
      {N, c.moe_intermediate_size * c.n_shared_experts, H},
  };
  int64_t m = 0;
  for (auto& d : dims) m = std::max(m, matmul_scratch(d[0], d[1], d[2]));
  return m;
}
}  // namespace

Model::Model(const ModelConfig& cfg, int64_t batch, int64_t seq, cpu::ThreadPool* pool, TrainSettings settings,
             ExpertShard shard)
    : cfg_(cfg), layout_(cfg, shard), B_(batch), T_(seq), settings_(settings) {
  if (batch < 1 || seq < 1) fail("batch and sequence length must be positive (got {} x {})", batch, seq);
  const ModelConfig& c = cfg_;
  const int64_t N = B_ * T_, H = c.hidden_size, V = c.vocab_size, L = c.num_hidden_layers,
                D = c.num_nextn_predict_layers, dr = c.qk_rope_head_dim;
  params_.assign(layout_.numel(), 0.0f);
  grads_.assign(layout_.numel(), 0.0f);
  p_ = layout_.bind(params_.data());
  g_ = layout_.bind(grads_.data());

  // RoPE tables for positions 0..T-1 (YaRN included), computed in double like model/rope.cpp.
  Rope rope(c);
  rope_cos_.resize(T_ * (dr / 2));
  rope_sin_.resize(T_ * (dr / 2));
  for (int64_t t = 0; t < T_; ++t)
    for (int64_t i = 0; i < dr / 2; ++i) {
      const double ang = double(t) * rope.inv_freq()[i];
      rope_cos_[t * (dr / 2) + i] = float(std::cos(ang) * rope.attention_factor());
      rope_sin_[t * (dr / 2) + i] = float(std::sin(ang) * rope.attention_factor());
    }

  arena_.take(&inp_, N);
  arena_.take(&targets_, N);
  resid_.assign(L + 1, nullptr);
  for (auto& r : resid_) arena_.take(&r, N * H);
  // Low precision keeps the Linears' inputs as their quantized tiles (keep_input), so their f32
  // values share one buffer: the largest input of any kept Linear.
  if (settings_.precision != Precision::F32) {
    const int64_t widest = std::max({H, c.q_lora_rank, c.kv_lora_rank, c.num_attention_heads * c.v_head_dim,
                                     c.intermediate_size, c.moe_intermediate_size * c.n_shared_experts});
    kept_f32_.assign(size_t(N * widest), 0.0f);
  }
  const KeptF32 kept{kept_f32_.empty() ? nullptr : kept_f32_.data()};
  layers_.resize(L);
  for (int64_t l = 0; l < L; ++l) layers_[l].declare(arena_, c, c.is_moe_layer(l), B_, T_, kept, shard);
  arena_.take(&hfinal_, N * H);
  arena_.take(&hfinal_rstd_, N);
  mtp_.resize(D);
  for (int64_t k = 0; k < D; ++k) {
    MtpActs& m = mtp_[k];
    arena_.take(&m.tokens, N);
    arena_.take(&m.targets, N);
    for (float** p : {&m.emb, &m.en, &m.hn, &m.x0, &m.x1, &m.out, &m.dout}) arena_.take(p, N * H);
    for (float** p : {&m.en_rstd, &m.hn_rstd, &m.out_rstd}) arena_.take(p, N);
    arena_.take(&m.cat, N * 2 * H);
    m.layer.declare(arena_, c, c.is_moe_layer(L + k), B_, T_, kept, shard);
  }
  arena_.take(&logits_, N * V);
  arena_.take(&losses_, N);
  arena_.take(&token_logp_, N);
  arena_.take(&token_w_, N);
  for (float** p : {&tmp_, &dresid_, &dln_, &dh_, &dhalf_}) arena_.take(p, N * H);
  arena_.take(&dcat_, N * 2 * H);
  const int64_t ms = max_matmul_scratch(c, N, c.n_routed_experts > 0 ? expert_rows(c, N, shard) : 0);
  arena_.take(&matmul_scratch_, ms);
  mla_declare_scratch(arena_, scratch_, c, B_, T_);
  ffn_declare_scratch(arena_, scratch_, c, N, shard);
  arena_.allocate();

  ctx_.cfg = &cfg_;
  ctx_.ops = Ops{pool, matmul_scratch_, ms};
  ctx_.B = B_;
  ctx_.T = T_;
  ctx_.rope_cos = rope_cos_.data();
  ctx_.rope_sin = rope_sin_.data();
  ctx_.s = &scratch_;
  ctx_.balance_alpha = settings_.balance_alpha;
  ctx_.lowp = &lowp_;
  ctx_.shard = shard;
}

void Model::zero_grad() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

void Model::head(int index, const float* h, const int32_t* targets, float dscale, float* dh, float* logits_copy,
                 double* loss) {
  const int64_t N = B_ * T_, H = cfg_.hidden_size, V = cfg_.vocab_size;
  matmul_forward(ctx_.ops, logits_, h, f32(p_.lm_head), N, H, V);
  if (logits_copy) std::memcpy(logits_copy, logits_, size_t(N * V) * sizeof(float));
  // A head whose loss has weight 0 (--mtp-weight 0) adds no gradient: the kernel leaves the logits
  // in place when dscale is 0, so they must not be back-propagated as if they were ∂L/∂logits.
  const bool grad = dh && dscale != 0.0f;
  if (!loss_weights_) {
    *loss = cross_entropy_forward_backward(ctx_.ops, logits_, targets, N, V, grad ? dscale : 0.0f, losses_) / double(N);
  } else {
    // Forward first (logits kept), then each row's gradient with its own scale dscale · w_n through
    // the same kernel, so that all-ones weights reproduce the unweighted step bit for bit.
    cross_entropy_forward_backward(ctx_.ops, logits_, targets, N, V, 0.0f, losses_);
    for (int64_t n = 0; n < N; ++n) token_logp_[n] = -losses_[n];
    loss_weights_(index, token_logp_, token_w_);
    double sum = 0;
    for (int64_t n = 0; n < N; ++n) {
      if (!std::isfinite(token_w_[n])) fail("loss weight of position {} (head {}) is not finite", n, index);
      sum += double(token_w_[n]) * double(losses_[n]);
    }
    *loss = sum / double(N);
    if (grad)
      parallel_for(ctx_.ops, N, [&](int64_t n) {
        float* z = logits_ + n * V;
        const float s = dscale * token_w_[n];
        if (s == 0.0f)
          std::fill(z, z + V, 0.0f);
        else
          cross_entropy_forward_backward(Ops{}, z, targets + n, 1, V, s, token_logp_ + n);  // consumed: scratch
      });
  }
  if (dh) std::fill(dh, dh + N * H, 0.0f);
  if (grad) matmul_backward(ctx_.ops, dh, writable(g_.lm_head), logits_, h, f32(p_.lm_head), N, H, V);
}

StepLosses Model::step(const int32_t* windows, bool backward, float* logits, float* mtp_logits) {
  const ModelConfig& c = cfg_;
  const int64_t N = B_ * T_, H = c.hidden_size, L = c.num_hidden_layers, D = c.num_nextn_predict_layers,
                W = window();
  const float eps = float(c.rms_norm_eps);
  ctx_.balance_alpha = settings_.balance_alpha;
  ctx_.precision = settings_.precision;
  if (ctx_.precision == Precision::F32 && !kept_f32_.empty())
    fail("training model: built for bf16 / fp8 (its layers keep only the quantized Linear inputs); it cannot "
         "run in f32");
  if (ctx_.precision != Precision::F32) lowp_.path = lowp_best_path();
  lowp_.new_pass();  // the weights may have changed since the last step: quantize them afresh
  for (int64_t b = 0; b < B_; ++b)
    for (int64_t t = 0; t < T_; ++t) {
      const int32_t* w = windows + b * W + t;
      for (int64_t j = 0; j < W - t && j <= D + 1; ++j)
        if (w[j] < 0 || w[j] >= c.vocab_size)
          fail("token id {} is outside the model's vocabulary [0, {})", w[j], c.vocab_size);
      inp_[b * T_ + t] = w[0];
      targets_[b * T_ + t] = w[1];
      for (int64_t k = 0; k < D; ++k) {
        mtp_[k].tokens[b * T_ + t] = w[k + 1];
        mtp_[k].targets[b * T_ + t] = w[k + 2];
      }
    }

  StepLosses out;
  // Main model.
  embedding_forward(resid_[0], inp_, f32(p_.embed_tokens), N, H);
  for (int64_t l = 0; l < L; ++l) {
    decoder_layer_forward(ctx_, resid_[l + 1], layers_[l], resid_[l], p_.layers[l]);
    if (layers_[l].moe.scores && p_.layers[l].is_moe) out.balance += layers_[l].moe.balance_loss;
  }
  rmsnorm_forward(hfinal_, hfinal_rstd_, resid_[L], f32(p_.norm), N, H, eps);
  head(0, hfinal_, targets_, 1.0f / float(N), backward ? dh_ : nullptr, logits, &out.loss);

  // MTP modules, chained; each head's backward runs right away so the logits buffer is reused.
  const float mtp_scale = D > 0 ? settings_.mtp_weight / float(D) : 0.0f;
  for (int64_t k = 0; k < D; ++k) {
    MtpActs& m = mtp_[k];
    const MtpWeights& w = p_.mtp[k];
    const float* hprev = k == 0 ? hfinal_ : mtp_[k - 1].out;
    embedding_forward(m.emb, m.tokens, f32(p_.embed_tokens), N, H);
    rmsnorm_forward(m.en, m.en_rstd, m.emb, f32(w.enorm), N, H, eps);
    rmsnorm_forward(m.hn, m.hn_rstd, hprev, f32(w.hnorm), N, H, eps);
    for (int64_t n = 0; n < N; ++n) {
      std::memcpy(m.cat + n * 2 * H, m.en + n * H, H * sizeof(float));
      std::memcpy(m.cat + n * 2 * H + H, m.hn + n * H, H * sizeof(float));
    }
    matmul_forward(ctx_.ops, m.x0, m.cat, f32(w.eh_proj), N, 2 * H, H);
    decoder_layer_forward(ctx_, m.x1, m.layer, m.x0, w.layer);
    if (w.layer.is_moe) out.balance += m.layer.moe.balance_loss;
    rmsnorm_forward(m.out, m.out_rstd, m.x1, f32(w.shared_head_norm), N, H, eps);
    double l = 0;
    head(int(k) + 1, m.out, m.targets, float(mtp_scale / double(N)), backward ? m.dout : nullptr,
         k == 0 ? mtp_logits : nullptr, &l);
    out.mtp_loss += l / double(D);
  }
  out.total = out.loss + double(settings_.mtp_weight) * out.mtp_loss + out.balance;
  if (!backward) return out;

  // MTP backward, last module first (module k's input gradient goes to module k-1 or the trunk).
  for (int64_t k = D - 1; k >= 0; --k) {
    MtpActs& m = mtp_[k];
    const MtpWeights& w = p_.mtp[k];
    MtpWeights& dw = g_.mtp[k];
    const float* hprev = k == 0 ? hfinal_ : mtp_[k - 1].out;
    float* dhprev = k == 0 ? dh_ : mtp_[k - 1].dout;
    std::fill(dresid_, dresid_ + N * H, 0.0f);
    rmsnorm_backward(dresid_, writable(dw.shared_head_norm), m.dout, m.x1, f32(w.shared_head_norm), m.out_rstd, N, H);
    decoder_layer_backward(ctx_, dresid_, dw.layer, m.layer, m.x0, w.layer, dln_);
    std::fill(dcat_, dcat_ + N * 2 * H, 0.0f);
    matmul_backward(ctx_.ops, dcat_, writable(dw.eh_proj), dresid_, m.cat, f32(w.eh_proj), N, 2 * H, H);
    for (int64_t n = 0; n < N; ++n) {
      std::memcpy(dln_ + n * H, dcat_ + n * 2 * H, H * sizeof(float));        // ∂/∂enorm(emb)
      std::memcpy(dhalf_ + n * H, dcat_ + n * 2 * H + H, H * sizeof(float));  // ∂/∂hnorm(h)
    }
    std::fill(tmp_, tmp_ + N * H, 0.0f);
    rmsnorm_backward(tmp_, writable(dw.enorm), dln_, m.emb, f32(w.enorm), m.en_rstd, N, H);
    embedding_backward(writable(g_.embed_tokens), tmp_, m.tokens, N, H);
    rmsnorm_backward(dhprev, writable(dw.hnorm), dhalf_, hprev, f32(w.hnorm), m.hn_rstd, N, H);
  }
  // Trunk backward.
  std::fill(dresid_, dresid_ + N * H, 0.0f);
  rmsnorm_backward(dresid_, writable(g_.norm), dh_, resid_[L], f32(p_.norm), hfinal_rstd_, N, H);
  for (int64_t l = L - 1; l >= 0; --l)
    decoder_layer_backward(ctx_, dresid_, g_.layers[l], layers_[l], resid_[l], p_.layers[l], dln_);
  embedding_backward(writable(g_.embed_tokens), dresid_, inp_, N, H);
  return out;
}

std::vector<std::vector<int32_t>> Model::expert_load() const {
  std::vector<std::vector<int32_t>> out;
  const int64_t E = cfg_.n_routed_experts;
  auto add = [&](const LayerActs& a, const LayerWeights& w) {
    if (w.is_moe) out.emplace_back(a.moe.count, a.moe.count + E);
  };
  for (size_t l = 0; l < layers_.size(); ++l) add(layers_[l], p_.layers[l]);
  for (size_t k = 0; k < mtp_.size(); ++k) add(mtp_[k].layer, p_.mtp[k].layer);
  return out;
}

std::vector<float*> Model::router_biases() {
  std::vector<float*> out;
  for (auto& l : p_.layers)
    if (l.is_moe) out.push_back(writable(l.moe.gate.e_score_correction_bias));
  for (auto& m : p_.mtp)
    if (m.layer.is_moe) out.push_back(writable(m.layer.moe.gate.e_score_correction_bias));
  return out;
}

}  // namespace fathom::train
