#include "ops/weight.h"

#include "core/error.h"
#include "ops/quant/q4_0.h"
#include "ops/quant/q8_0.h"

namespace fathom::ops {

int64_t weight_row_bytes(WFormat format, int64_t cols) {
  switch (format) {
    case WFormat::F32: return cols * 4;
    case WFormat::F16:
    case WFormat::BF16: return cols * 2;
    case WFormat::F8_E4M3:
    case WFormat::F8_E5M2: return cols;
    case WFormat::Q8_0: return quant::q8_0_row_bytes(cols);
    case WFormat::Q4_0: return quant::q4_0_row_bytes(cols);
  }
  fail("weight_row_bytes: unknown format {}", int(format));
}

}  // namespace fathom::ops
