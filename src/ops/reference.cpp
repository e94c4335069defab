#include "ops/reference.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/quant/q4_0.h"
#include "ops/quant/q8_0.h"

namespace fathom::ops {

void dequant_row(const WeightMatrix& W, int64_t r, float* out) {
  const int64_t cols = W.cols;
  switch (W.format) {
    case WFormat::F32:
      to_f32(DType::F32, static_cast<const float*>(W.data) + r * cols, out, cols);
      return;
    case WFormat::F16:
      to_f32(DType::F16, static_cast<const uint16_t*>(W.data) + r * cols, out, cols);
      return;
    case WFormat::BF16:
      to_f32(DType::BF16, static_cast<const uint16_t*>(W.data) + r * cols, out, cols);
      return;
    case WFormat::F8_E5M2:
      to_f32(DType::F8_E5M2, static_cast<const uint8_t*>(W.data) + r * cols, out, cols);
      return;
    case WFormat::F8_E4M3: {
      const uint8_t* row = static_cast<const uint8_t*>(W.data) + r * cols;
      const int64_t scale_cols = (cols + W.block_cols - 1) / W.block_cols;
      const float* scales = W.scale_inv + (r / W.block_rows) * scale_cols;
      for (int64_t c = 0; c < cols; ++c) out[c] = e4m3_to_f32(row[c]) * scales[c / W.block_cols];
      return;
    }
    case WFormat::Q8_0:
      quant::q8_0_dequantize_row(static_cast<const uint8_t*>(W.data) + r * quant::q8_0_row_bytes(cols), cols, out);
      return;
    case WFormat::Q4_0:
      quant::q4_0_dequantize_row(static_cast<const uint8_t*>(W.data) + r * quant::q4_0_row_bytes(cols), cols, out);
      return;
    default:
      fail("dequant_row: format {} is not handled by the reference path", int(W.format));
  }
}

namespace ref {

void matmul(const WeightMatrix& W, const float* X, int64_t n, float* Y) {
  std::vector<float> row(W.cols);
  for (int64_t r = 0; r < W.rows; ++r) {
    dequant_row(W, r, row.data());
    for (int64_t t = 0; t < n; ++t) Y[t * W.rows + r] = dot(row.data(), X + t * W.cols, W.cols);
  }
}

float dot(const float* a, const float* b, int64_t n) {
  // Double accumulation: the reference should not be the source of rounding noise.
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i]) * double(b[i]);
  return float(s);
}

void rmsnorm(const float* x, const float* w, int64_t dim, float eps, float* y) {
  double ss = 0;
  for (int64_t i = 0; i < dim; ++i) ss += double(x[i]) * x[i];
  const float inv = float(1.0 / std::sqrt(ss / double(dim) + double(eps)));
  for (int64_t i = 0; i < dim; ++i) y[i] = x[i] * inv * w[i];
}

void softmax(float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    s += x[i];
  }
  const float inv = float(1.0 / s);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

void silu_mul(const float* gate, const float* up, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = silu(gate[i]) * up[i];
}

}  // namespace ref
}  // namespace fathom::ops
