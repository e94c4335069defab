#include "training/optimizer.h"

#include <bit>
#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "dist/comm.h"

namespace fathom::train {

double LrSchedule::at(int64_t step) const {
  if (step < warmup) return lr * double(step + 1) / double(warmup);
  const int64_t span = std::max<int64_t>(1, total - warmup);
  const double progress = std::min(1.0, double(step - warmup) / double(span));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

namespace {
bool trainable(const ParamTensor& t) { return t.kind != ParamKind::RouterBias; }
}  // namespace

double clip_grad_norm(const Ops& ops, const ParamLayout& layout, float* grads, double max_norm) {
  const auto& ts = layout.tensors();
  std::vector<double> sq(ts.size(), 0.0);
  parallel_for(ops, int64_t(ts.size()), [&](int64_t i) {
    if (!trainable(ts[i])) return;
    double s = 0;
    const float* g = grads + ts[i].offset;
    for (int64_t j = 0; j < ts[i].numel; ++j) s += double(g[j]) * g[j];
    sq[i] = s;
  });
  // Fixed order: the same norm for any thread count. Expert-parallel ranks hold different routed
  // experts (sharded): their part is summed over the ranks, identically on each.
  double total = 0, sharded = 0;
  for (size_t i = 0; i < ts.size(); ++i) (ts[i].sharded ? sharded : total) += sq[i];
  if (layout.shard().active()) dist::allreduce_sum(&sharded, 1);
  const double norm = std::sqrt(total + sharded);
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      const float c = float(coef);
      for (const auto& t : ts)
        for (int64_t j = 0; j < t.numel; ++j) grads[t.offset + j] *= c;
    }
  }
  return norm;
}

namespace {

// bf16_to_f32(f32_to_bf16(x)) (round to nearest even, NaN kept NaN) in branch-free form, so that
// the loop over a tensor vectorises.
inline float round_to_bf16(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  const uint32_t quiet_nan = (u & 0xffff0000u) | 0x400000u;
  return std::bit_cast<float>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

}  // namespace

void adamw_step(const Ops& ops, const ParamLayout& layout, float* params, const float* grads, float* m, float* v,
                int64_t t, double lr, const AdamWConfig& c) {
  const auto& ts = layout.tensors();
  const double bc1 = 1.0 - std::pow(c.beta1, double(t)), bc2 = 1.0 - std::pow(c.beta2, double(t));
  const float step_size = float(lr / bc1), sqrt_bc2 = float(std::sqrt(bc2));
  const float b1 = float(c.beta1), b2 = float(c.beta2), eps = float(c.eps);
  parallel_for(ops, int64_t(ts.size()), [&](int64_t i) {
    const ParamTensor& pt = ts[i];
    if (!trainable(pt)) return;
    const float decay = pt.kind == ParamKind::Matrix ? float(1.0 - lr * c.weight_decay) : 1.0f;
    float* p = params + pt.offset;
    const float* g = grads + pt.offset;
    float* mm = m + pt.offset;
    float* vv = v + pt.offset;
    for (int64_t j = 0; j < pt.numel; ++j) {
      p[j] *= decay;
      mm[j] = b1 * mm[j] + (1.0f - b1) * g[j];
      vv[j] = b2 * vv[j] + (1.0f - b2) * g[j] * g[j];
      p[j] -= step_size * mm[j] / (std::sqrt(vv[j]) / sqrt_bc2 + eps);
    }
    if (c.bf16_moments)  // the update used them in f32; what is kept is BF16
      for (int64_t j = 0; j < pt.numel; ++j) {
        mm[j] = round_to_bf16(mm[j]);
        vv[j] = round_to_bf16(vv[j]);
      }
  });
}

}  // namespace fathom::train
