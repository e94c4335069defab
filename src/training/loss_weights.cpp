#include "training/loss_weights.h"

namespace fathom::train {

LossWeightFn masked_mean_weights(const uint8_t* mask, int64_t B, int64_t T, int64_t W) {
  return [=](int head, const float*, float* w) {
    const int64_t N = B * T;
    int64_t count = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) count += mask[b * W + t + 1 + head] != 0;
    const float scale = count > 0 ? float(double(N) / double(count)) : 0.0f;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) w[b * T + t] = mask[b * W + t + 1 + head] != 0 ? scale : 0.0f;
  };
}

}  // namespace fathom::train
