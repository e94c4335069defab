// The whole DeepSeek-V3 model for training: embedding -> decoder layers (RMSNorm -> MLA -> residual
// -> RMSNorm -> MLP | MoE -> residual) -> model.norm -> lm_head -> cross-entropy, plus the MTP
// modules (DeepSeek-V3 §2.2, CONVENTIONS.md): module k takes h (model.norm's output for k = 0,
// module k-1's shared_head.norm output after), [enorm(embed(t_{i+k+1})); hnorm(h)] -> eh_proj ->
// decoder layer -> shared_head.norm -> lm_head (shared) -> cross-entropy against t_{i+k+2}.
//
//   loss = CE_main + λ/D Σ_k CE_mtp_k + Σ_moe-layers L_bal
//
// Parameters, gradients and activations are allocated once for a fixed batch [B, T]; a step
// allocates nothing. Batches are windows of T + 1 + D tokens (inputs, next-token targets, and
// the D extra tokens the MTP modules predict).
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "training/layer.h"
#include "training/mla.h"
#include "training/moe.h"
#include "training/params.h"

namespace fathom::train {

struct LayerActs {
  float *ln1 = nullptr, *ln1_rstd = nullptr;  // [N, H], [N]; ln1 is KeptF32 (MLA's input)
  MlaActs attn;
  float* res_mid = nullptr;                   // [N, H] residual after attention
  float *ln2 = nullptr, *ln2_rstd = nullptr;  // ln2 is KeptF32 in dense layers; f32 for the MoE router
  MlpActs mlp;  // dense layers
  MoeActs moe;  // MoE layers
  LowpMatrix ln1_tiles, ln2_tiles;
  LinearIn ln1_in, ln2_in;  // as kept by the last forward (ln2_in: dense layers)
  void declare(Arena& a, const ModelConfig& c, bool is_moe, int64_t B, int64_t T, const KeptF32& kept,
               const ExpertShard& shard = {});
};

// out = layer(inp): x + MLA(RMSNorm(x)), then + FFN(RMSNorm(·)).
void decoder_layer_forward(const LayerCtx& ctx, float* out, LayerActs& acts, const float* inp, const LayerWeights& weight);
// dresid holds ∂L/∂out on entry and ∂L/∂inp on return; dln is [N, H] scratch.
void decoder_layer_backward(const LayerCtx& ctx, float* dresid, LayerWeights& dweight, const LayerActs& acts,
                            const float* inp, const LayerWeights& weight, float* dln);

struct MtpActs {
  int32_t *tokens = nullptr, *targets = nullptr;  // [N] t_{i+k+1}, t_{i+k+2}
  float *emb = nullptr, *en = nullptr, *en_rstd = nullptr, *hn = nullptr, *hn_rstd = nullptr;
  float* cat = nullptr;              // [N, 2H] = [enorm(emb) ; hnorm(h)]
  float *x0 = nullptr, *x1 = nullptr;  // eh_proj output, decoder layer output
  LayerActs layer;
  float *out = nullptr, *out_rstd = nullptr;  // shared_head.norm output [N, H]
  float* dout = nullptr;                      // ∂L/∂out [N, H]
};

struct TrainSettings {
  float mtp_weight = 0.3f;       // λ
  float balance_alpha = 1e-4f;   // α of the sequence-wise balance loss
  Precision precision = Precision::F32;  // of the decoder layers' Linears (lowp_linear.h)
};

// Per-token loss weights (loss_weights.h builds them for masked SFT data, grpo_objective.h for the
// policy-gradient step). Called once per head during a step, after that head's forward pass:
// head 0 is the main next-token head, head k + 1 the MTP module k. logp [N = B·T] holds each
// position's log-probability of its target; the function writes the weights w [N]. The head's loss
// becomes (1/N) Σ_n w_n · CE_n (all-ones weights give the unweighted mean exactly), so w_n scales
// position n's gradient and w_n = 0 removes it.
using LossWeightFn = std::function<void(int head, const float* logp, float* w)>;

struct StepLosses {
  double loss = 0;      // main next-token cross-entropy (mean over tokens; weighted with a LossWeightFn)
  double mtp_loss = 0;  // mean over MTP modules of their cross-entropy
  double balance = 0;   // Σ over MoE layers of L_bal
  double total = 0;     // loss + λ mtp_loss + balance: what the gradients are of
};

// The trainable model: parameters, gradients and activations for one batch shape (fathom::Model
// is the inference one; both read the same ModelWeights types).
class Model {
 public:
  // With an active shard (expert parallelism), this rank holds the parameters of its own routed
  // experts only (layout() is that rank's) and every step takes part in the exchanges of
  // expert_exchange.h, so every rank must step together.
  Model(const ModelConfig& cfg, int64_t batch, int64_t seq, cpu::ThreadPool* pool, TrainSettings settings,
        ExpertShard shard = {});

  const ModelConfig& config() const { return cfg_; }
  const ParamLayout& layout() const { return layout_; }
  int64_t batch() const { return B_; }
  int64_t seq() const { return T_; }
  int64_t window() const { return T_ + 1 + cfg_.num_nextn_predict_layers; }
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  // The parameters as inference weight types (F32 views into params()).
  const ModelWeights& weights() const { return p_; }
  TrainSettings& settings() { return settings_; }
  size_t activation_bytes() const { return arena_.bytes(); }

  // windows: [B, window()] token ids. Runs the forward pass and returns the losses; with
  // backward, also ADDS the gradients of losses.total into grads() (call zero_grad() first).
  // logits / mtp_logits, if given, receive [B*T, V] copies (mtp: the first module's).
  StepLosses step(const int32_t* windows, bool backward, float* logits = nullptr, float* mtp_logits = nullptr);
  void zero_grad();
  // Per-token loss weights for the next steps (empty: every token weighs 1).
  void set_loss_weights(LossWeightFn fn) { loss_weights_ = std::move(fn); }

  // The expert load of the last step: per MoE layer (main layers, then MTP layers), tokens per
  // routed expert.
  std::vector<std::vector<int32_t>> expert_load() const;
  // The routing bias of each MoE layer in the same order (views into params()).
  std::vector<float*> router_biases();

 private:
  void head(int index, const float* h, const int32_t* targets, float dscale, float* dh, float* logits_copy,
            double* loss);
  LayerCtx ctx_;
  ModelConfig cfg_;
  ParamLayout layout_;
  int64_t B_, T_;
  TrainSettings settings_;
  LossWeightFn loss_weights_;
  std::vector<float> params_, grads_, rope_cos_, rope_sin_;
  ModelWeights p_, g_;
  Arena arena_;
  Scratch scratch_;
  LowpWorkspace lowp_;
  // bf16 / fp8: the one f32 buffer of every layer's kept Linear inputs (KeptF32); empty in f32.
  std::vector<float> kept_f32_;
  // activations
  int32_t *inp_ = nullptr, *targets_ = nullptr;
  std::vector<float*> resid_;  // L+1 residual streams [N, H]
  std::vector<LayerActs> layers_;
  float *hfinal_ = nullptr, *hfinal_rstd_ = nullptr;
  std::vector<MtpActs> mtp_;
  // shared buffers
  float *logits_ = nullptr, *losses_ = nullptr, *token_logp_ = nullptr, *token_w_ = nullptr, *tmp_ = nullptr, *dresid_ = nullptr, *dln_ = nullptr, *dh_ = nullptr,
        *dcat_ = nullptr, *dhalf_ = nullptr, *matmul_scratch_ = nullptr;
};

}  // namespace fathom::train
