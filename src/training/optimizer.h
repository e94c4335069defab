// AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch's torch.optim.AdamW step, so an
// independent reference can match it), the learning-rate schedule, and global-norm clipping.
// Weight decay applies to Linear weights only: embeddings, norms and the router bias are exempt.
// The router bias is not trained by gradients at all (the balancing rule owns it).
#pragma once
#include <cstdint>

#include "training/kernels.h"
#include "training/params.h"

namespace fathom::train {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
  // The moments rounded to BF16 once each step's update has used them, as BF16 storage keeps them
  // (DeepSeek-V3 §3.3.3; the bf16 and fp8 precisions): the f32 buffers then hold BF16 values only.
  bool bf16_moments = false;
};

// Linear warmup from lr/warmup to lr over `warmup` steps, then cosine decay to min_lr at `total`.
// step is 0-based (the step about to be taken).
struct LrSchedule {
  double lr = 1e-3, min_lr = 1e-4;
  int64_t warmup = 0, total = 1;
  double at(int64_t step) const;
};

// Returns the global L2 norm of the trainable gradients and scales them by
// min(1, max_norm / (norm + 1e-6)) (torch.nn.utils.clip_grad_norm_); max_norm <= 0 disables. Under
// expert parallelism (a sharded layout) the norm is of every rank's experts: a collective.
double clip_grad_norm(const Ops& ops, const ParamLayout& layout, float* grads, double max_norm);

// One AdamW step; t is the 1-based step count (bias correction).
void adamw_step(const Ops& ops, const ParamLayout& layout, float* params, const float* grads, float* m, float* v,
                int64_t t, double lr, const AdamWConfig& cfg);

}  // namespace fathom::train
