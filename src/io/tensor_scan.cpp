#include "io/tensor_scan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace fathom::io {

int64_t first_non_finite(const TensorView& t, const std::function<void(uint64_t bytes)>& progress) {
  if (!is_float_weight(t.dtype) && t.dtype != DType::F64) return -1;
  const size_t esize = dtype_size(t.dtype), n = t.nbytes / esize;
  constexpr size_t kChunk = size_t(1) << 16;
  std::vector<float> buf(std::min(n, kChunk));
  for (size_t begin = 0; begin < n; begin += kChunk) {
    const size_t m = std::min(kChunk, n - begin);
    const uint8_t* src = t.data + begin * esize;
    if (t.dtype == DType::F64) {
      for (size_t i = 0; i < m; ++i) {
        double d;
        std::memcpy(&d, src + i * 8, 8);
        buf[i] = std::isfinite(d) ? 0.0f : NAN;
      }
    } else {
      to_f32(t.dtype, src, buf.data(), m);
    }
    for (size_t i = 0; i < m; ++i)
      if (!std::isfinite(buf[i])) return int64_t(begin + i);
    if (progress) progress((begin + m) * esize);
  }
  return -1;
}

}  // namespace fathom::io
