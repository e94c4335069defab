#include "ops/activation.h"

#include "core/assert.h"
#include "core/error.h"
#include "ops/reference.h"

namespace fathom::ops {

void silu_mul(cpu::Isa isa, const float* gate, const float* up, int64_t n, float* y) {
  FATHOM_ASSERT(n >= 0 && (n == 0 || (gate && up && y)), "silu_mul: {} elements", n);
  if (!cpu::isa_supported(isa)) fail("silu_mul: this CPU does not support {}", cpu::isa_name(isa));
  switch (isa) {
    case cpu::Isa::Scalar: return ref::silu_mul(gate, up, n, y);
    case cpu::Isa::Avx2: return detail::silu_mul_avx2(gate, up, n, y);
    case cpu::Isa::Avx512: return detail::silu_mul_avx512(gate, up, n, y);
  }
}

void softmax(cpu::Isa isa, float* x, int64_t n) {
  FATHOM_ASSERT(n >= 0 && (n == 0 || x), "softmax: {} elements", n);
  if (!cpu::isa_supported(isa)) fail("softmax: this CPU does not support {}", cpu::isa_name(isa));
  switch (isa) {
    case cpu::Isa::Scalar: return ref::softmax(x, n);
    case cpu::Isa::Avx2: return detail::softmax_avx2(x, n);
    case cpu::Isa::Avx512: return detail::softmax_avx512(x, n);
  }
}

}  // namespace fathom::ops
