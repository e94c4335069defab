// Exec: how the model computes — the scalar f32 reference path (the oracle) or the fast kernels
// (ops::matmul, run-time ISA dispatch) on a thread pool. Model code calls linear()/linear_batch()
// and never picks a kernel itself.
#pragma once
#include <cstdint>
#include <memory>
#include <span>

#include "ops/reference.h"
#include "ops/weight.h"

namespace fathom {

namespace cpu { class ThreadPool; }
namespace ops { struct MatmulJob; }

struct Exec {
  bool reference = true;            // scalar f32 oracle path
  cpu::ThreadPool* pool = nullptr;  // fast path threads (null: calling thread only)
};

// Owns the thread pool of a fast Exec. threads <= 0: all available cores.
class Runtime {
 public:
  explicit Runtime(int threads = 0);
  ~Runtime();
  Exec exec() const { return Exec{false, pool_.get()}; }
  int threads() const;

 private:
  std::unique_ptr<cpu::ThreadPool> pool_;
};

// Y[n, W.rows] = X[n, W.cols] · Wᵀ
void linear(const Exec& ex, const ops::WeightMatrix& W, const float* X, int64_t n, float* Y);
// Independent products in one parallel region (the fast path splits the union of their rows).
void linear_batch(const Exec& ex, std::span<const ops::MatmulJob> jobs);

// y[i] = silu(gate[i]) * up[i] (the experts' gated activation); y may alias gate.
void silu_mul(const Exec& ex, const float* gate, const float* up, int64_t n, float* y);

}  // namespace fathom
