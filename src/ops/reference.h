// The scalar f32 reference ops: plain loops, no SIMD intrinsics, no threads. They define the
// semantics; every fast kernel is tested against them and the reference forward pass uses them.
#pragma once
#include <cstdint>

#include "ops/weight.h"

namespace fathom::ops::ref {

// Y[n, W.rows] = X[n, W.cols] · Wᵀ  (f32 accumulation over a dequantised row at a time)
void matmul(const WeightMatrix& W, const float* X, int64_t n, float* Y);

// y = x / sqrt(mean(x²) + eps) * w, over dim elements.
void rmsnorm(const float* x, const float* w, int64_t dim, float eps, float* y);

// In-place numerically stable softmax over n elements.
void softmax(float* x, int64_t n);

float silu(float x);

// y[i] = silu(gate[i]) * up[i]
void silu_mul(const float* gate, const float* up, int64_t n, float* y);

float dot(const float* a, const float* b, int64_t n);

}  // namespace fathom::ops::ref
