// Per-token loss weights for supervised fine-tuning on masked data (`fathom prepare --chat`): only
// the tokens the mask marks (assistant turns) are loss targets, and each head's loss is the mean
// cross-entropy over its marked targets, as an unmasked run's loss is the mean over all of them.
#pragma once
#include <cstdint>

#include "training/transformer.h"

namespace fathom::train {

// mask: [B, W] bytes aligned with the batch's token windows (W = T + 1 + D), owned by the caller
// and refilled before each step. Head h (0: main, k + 1: MTP module k) at position (b, t) predicts
// windows[b, t + 1 + h]; its weight is mask[b, t + 1 + h] · N / (that head's count of marked
// targets), N = B·T, so Σ_n w_n CE_n / N is the mean over marked targets. A batch whose head has no
// marked target gets all-zero weights (it contributes nothing).
LossWeightFn masked_mean_weights(const uint8_t* mask, int64_t B, int64_t T, int64_t W);

}  // namespace fathom::train
