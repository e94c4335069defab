#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace fathom {

namespace {
// The dimension index whose wavelength completes `rotations` turns over max_pos positions.
double yarn_correction_dim(double rotations, int64_t dim, double base, double max_pos) {
  return (double(dim) * std::log(max_pos / (rotations * 2.0 * M_PI))) / (2.0 * std::log(base));
}
}  // namespace

Rope::Rope(const ModelConfig& c) : dim_(c.qk_rope_head_dim) {
  const int64_t half = dim_ / 2;
  const double base = c.rope_theta;
  inv_freq_.resize(half);
  for (int64_t i = 0; i < half; ++i) inv_freq_[i] = 1.0 / std::pow(base, double(2 * i) / double(dim_));
  if (!c.rope_scaling) return;

  // YaRN: high-frequency dims keep their frequency (extrapolate), low-frequency dims are divided
  // by `factor` (interpolate), with a linear ramp between the two correction dims.
  const RopeScaling& s = *c.rope_scaling;
  const double orig = double(s.original_max_position_embeddings);
  double low = std::floor(yarn_correction_dim(s.beta_fast, dim_, base, orig));
  double high = std::ceil(yarn_correction_dim(s.beta_slow, dim_, base, orig));
  low = std::max(low, 0.0);
  high = std::min(high, double(dim_ - 1));
  if (low == high) high += 0.001;
  for (int64_t i = 0; i < half; ++i) {
    const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolate = 1.0 - ramp;
    const double f_extra = inv_freq_[i], f_inter = inv_freq_[i] / s.factor;
    inv_freq_[i] = f_inter * (1.0 - extrapolate) + f_extra * extrapolate;
  }
  attention_factor_ = yarn_get_mscale(s.factor, s.mscale) / yarn_get_mscale(s.factor, s.mscale_all_dim);
}

void Rope::apply(float* x, int64_t pos) const {
  for (int64_t i = 0; i < dim_ / 2; ++i) {
    const double a = double(pos) * inv_freq_[i];
    const double c = std::cos(a) * attention_factor_, s = std::sin(a) * attention_factor_;
    const double x0 = x[2 * i], x1 = x[2 * i + 1];
    x[2 * i] = float(x0 * c - x1 * s);
    x[2 * i + 1] = float(x0 * s + x1 * c);
  }
}

}  // namespace fathom
