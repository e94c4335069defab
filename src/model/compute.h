// Exec: how the model computes — the fast kernels (ops::matmul, run-time ISA dispatch) on a thread
// pool, or the scalar f32 reference path (the oracle they are tested against), which is asked for
// by name: Exec::oracle() (`--reference` in the CLI). Model code calls linear()/linear_batch() and
// never picks a kernel itself.
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
  bool reference = false;           // true: the scalar f32 oracle (ops::ref); only through oracle()
  cpu::ThreadPool* pool = nullptr;  // fast path threads (null: the calling thread alone)

  // The fast kernels on `pool` (Runtime::exec() gives one with a pool of its own).
  static Exec fast(cpu::ThreadPool* pool) { return Exec{false, pool}; }
  // The scalar f32 reference path: slow, exact to the definition, single-threaded.
  static Exec oracle() { return Exec{true, nullptr}; }
};

// Owns the thread pool of a fast Exec. threads <= 0: all available cores.
class Runtime {
 public:
  explicit Runtime(int threads = 0);
  ~Runtime();
  Exec exec() const { return Exec::fast(pool_.get()); }
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
