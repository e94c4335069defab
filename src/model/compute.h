// Exec: how the model computes — the scalar f32 reference path (the oracle) or the fast kernels
// with a thread pool. Model code calls linear() and never picks a kernel itself.
#pragma once
#include <cstdint>

#include "ops/reference.h"
#include "ops/weight.h"

namespace fathom {

namespace cpu { class ThreadPool; }

struct Exec {
  bool reference = true;            // scalar f32 oracle path
  cpu::ThreadPool* pool = nullptr;  // fast path threads
};

// Y[n, W.rows] = X[n, W.cols] · Wᵀ
void linear(const Exec& ex, const ops::WeightMatrix& W, const float* X, int64_t n, float* Y);

}  // namespace fathom
