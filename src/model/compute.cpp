#include "model/compute.h"

#include <algorithm>

#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"
#include "ops/activation.h"
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

void silu_mul(const Exec& ex, const float* gate, const float* up, int64_t n, float* y) {
  if (ex.reference) return ops::ref::silu_mul(gate, up, n, y);
  const cpu::Isa isa = cpu::active_isa();
  // Pieces of 16K elements (64 KiB per operand): long enough to amortize a task, enough of them to
  // keep every thread busy on a prefill-sized product.
  constexpr int64_t kPiece = 16384;
  const int64_t pieces = (n + kPiece - 1) / kPiece;
  if (!ex.pool || pieces < 2) return ops::silu_mul(isa, gate, up, n, y);
  ex.pool->parallel_for(pieces, [&](int64_t p, int) {
    const int64_t i = p * kPiece;
    ops::silu_mul(isa, gate + i, up + i, std::min(kPiece, n - i), y + i);
  });
}

}  // namespace fathom
