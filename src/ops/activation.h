// Element-wise activations of the fast path, dispatched by ISA: the SiLU-gated product of the
// experts (y = silu(gate) * up) and softmax. ops::ref::silu_mul / ops::ref::softmax are the scalar
// originals they are tested against (tests/ops_activation_test.cpp): both hold 1e-6 relative (the
// vector exp is a degree-6 polynomial, ~2e-7 relative).
#pragma once
#include <cstdint>

#include "cpu/cpu_features.h"

namespace fathom::ops {

// y[i] = silu(gate[i]) * up[i]; y may alias gate or up.
void silu_mul(cpu::Isa isa, const float* gate, const float* up, int64_t n, float* y);
// In place, numerically stable (max subtracted), sums in double like the reference.
void softmax(cpu::Isa isa, float* x, int64_t n);

namespace detail {
void silu_mul_avx2(const float* gate, const float* up, int64_t n, float* y);
void silu_mul_avx512(const float* gate, const float* up, int64_t n, float* y);
void softmax_avx2(float* x, int64_t n);
void softmax_avx512(float* x, int64_t n);
}  // namespace detail

}  // namespace fathom::ops
