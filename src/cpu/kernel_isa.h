// The kernel ISA rows of src/cpu/kernel_isa.def as an enum, and the dispatch condition of each:
// the same table gives the compile flags of the *_<row>.cpp files (cmake/kernel_isa.cmake), so the
// run-time check and the instructions a file may hold cannot drift apart.
#pragma once
#include <cstdint>

namespace fathom::cpu {

enum class KernelIsa : uint8_t {
#define FATHOM_KERNEL_ISA(suffix, ...) suffix,
#include "cpu/kernel_isa.def"
#undef FATHOM_KERNEL_ISA
};

// Whether this CPU has every feature of the row and the OS saves the zmm/opmask state; a kernel of
// that row may run only when this holds. (The FATHOM_ISA cap is applied by the callers, through
// their cpu::Isa.)
bool kernel_isa_supported(KernelIsa row);

}  // namespace fathom::cpu
