#include "cpu/kernel_isa.h"

#include <initializer_list>

#include "cpu/cpu_features.h"

namespace fathom::cpu {
namespace {

// The feature names of kernel_isa.def (GCC's -m options) as cpu::Features fields. A row naming a
// feature missing here does not compile.
namespace feature {
constexpr bool Features::*avx512f = &Features::avx512f;
constexpr bool Features::*avx512bw = &Features::avx512bw;
constexpr bool Features::*avx512vl = &Features::avx512vl;
constexpr bool Features::*avx512dq = &Features::avx512dq;
constexpr bool Features::*avx512vnni = &Features::avx512_vnni;
constexpr bool Features::*avx512vbmi = &Features::avx512_vbmi;
constexpr bool Features::*avx512bf16 = &Features::avx512_bf16;
constexpr bool Features::*avx512fp16 = &Features::avx512_fp16;
}  // namespace feature

bool has_all(std::initializer_list<bool Features::*> needed) {
  const Features& f = features();
  for (bool Features::*field : needed)
    if (!(f.*field)) return false;
  return f.os_zmm;
}

}  // namespace

bool kernel_isa_supported(KernelIsa row) {
  using namespace feature;  // a row's feature names are the pointers above
  switch (row) {
#define FATHOM_KERNEL_ISA(suffix, ...) \
  case KernelIsa::suffix: return has_all({__VA_ARGS__});
#include "cpu/kernel_isa.def"
#undef FATHOM_KERNEL_ISA
  }
  return false;
}

}  // namespace fathom::cpu
