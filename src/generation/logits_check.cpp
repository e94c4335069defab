#include "generation/logits_check.h"

#include <bit>
#include <cmath>
#include <cstdint>

#include "core/error.h"

namespace fathom {

void check_logits_finite(std::span<const float> logits, int64_t position) {
  // One pass over the exponent bits that the compiler vectorizes (an early exit would keep it from
  // doing so; this runs on every row of logits, several per step with MTP); the search for the
  // entry to name only when one is not finite.
  uint32_t bad = 0;
  for (const float x : logits) bad |= uint32_t((std::bit_cast<uint32_t>(x) & 0x7f800000u) == 0x7f800000u);
  if (!bad) return;
  for (size_t i = 0; i < logits.size(); ++i)
    if (!std::isfinite(logits[i]))
      fail("the logits at position {} are not finite (vocab entry {} is {}): the model's weights hold NaN or "
           "infinite values; `fathom info --check MODEL_DIR` finds which tensor",
           position, i, std::isnan(logits[i]) ? "NaN" : logits[i] > 0 ? "+inf" : "-inf");
}

}  // namespace fathom
