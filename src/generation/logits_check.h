// A guard where generation samples: logits holding a NaN or an infinity (weights with NaN / Inf,
// a NaN fp8 scale) would otherwise sample garbage or nothing, and look like success.
#pragma once
#include <cstdint>
#include <span>

namespace fathom {

// Throws fathom::Error naming the sequence position and the first bad vocab entry.
void check_logits_finite(std::span<const float> logits, int64_t position);

}  // namespace fathom
