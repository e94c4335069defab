#include "model/compute.h"

namespace fathom {

void linear(const Exec& ex, const ops::WeightMatrix& W, const float* X, int64_t n, float* Y) {
  ops::ref::matmul(W, X, n, Y);
}

}  // namespace fathom
