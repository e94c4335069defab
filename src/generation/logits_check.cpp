#include "generation/logits_check.h"

#include <cmath>

#include "core/error.h"

namespace fathom {

void check_logits_finite(std::span<const float> logits, int64_t position) {
  for (size_t i = 0; i < logits.size(); ++i)
    if (!std::isfinite(logits[i]))
      fail("the logits at position {} are not finite (vocab entry {} is {}): the model's weights hold NaN or "
           "infinite values; `fathom info --check MODEL_DIR` finds which tensor",
           position, i, std::isnan(logits[i]) ? "NaN" : logits[i] > 0 ? "+inf" : "-inf");
}

}  // namespace fathom
