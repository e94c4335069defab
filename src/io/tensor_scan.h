// Reading a tensor's values to check them, for `fathom info --check`: broken weights (NaN or
// infinite values, including an fp8 block's scale) otherwise show up only as a model that
// generates nothing.
#pragma once
#include <cstdint>
#include <functional>

#include "io/safetensors.h"

namespace fathom::io {

// The index of the first NaN or infinite element of a floating-point tensor, or -1 when all are
// finite (and for integer dtypes). Reads the whole tensor; `progress` gets the bytes read so far.
int64_t first_non_finite(const TensorView& t, const std::function<void(uint64_t bytes)>& progress = {});

}  // namespace fathom::io
