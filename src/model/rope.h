// Rotary position embedding for MLA's decoupled RoPE dimensions, with YaRN.
// Layout: DeepSeek checkpoints rotate interleaved pairs (x[2i], x[2i+1]) by pos * inv_freq[i]
// (the official complex-number form). Hugging Face de-interleaves first and uses rotate_half;
// both give the same q·k, which is all attention sees.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"

namespace fathom {

class Rope {
 public:
  explicit Rope(const ModelConfig& cfg);
  // Rotates dim = qk_rope_head_dim values in place for position pos.
  void apply(float* x, int64_t pos) const;
  const std::vector<double>& inv_freq() const { return inv_freq_; }
  double attention_factor() const { return attention_factor_; }

 private:
  int64_t dim_;
  std::vector<double> inv_freq_;  // [dim/2]
  double attention_factor_ = 1.0;  // YaRN: cos and sin are scaled by mscale(f, mscale)/mscale(f, mscale_all_dim)
};

}  // namespace fathom
