#include "model/compute.h"

#include "cpu/thread_pool.h"
#include "ops/matmul.h"

namespace fathom {

Runtime::Runtime(int threads) : pool_(std::make_unique<cpu::ThreadPool>(threads)) {}
Runtime::~Runtime() = default;
int Runtime::threads() const { return pool_->size(); }

void linear(const Exec& ex, const ops::WeightMatrix& W, const float* X, int64_t n, float* Y) {
  if (ex.reference)
    ops::ref::matmul(W, X, n, Y);
  else
    ops::matmul(W, X, n, Y, ex.pool);
}

void linear_batch(const Exec& ex, std::span<const ops::MatmulJob> jobs) {
  if (ex.reference) {
    for (const auto& j : jobs) ops::ref::matmul(*j.W, j.X, j.n, j.Y);
  } else {
    ops::matmul_batch(jobs, ex.pool);
  }
}

}  // namespace fathom
