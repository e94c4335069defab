#include "cpu/cpu_features.h"

#include <cpuid.h>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/error.h"
#include "cpu/kernel_isa.h"

namespace fathom::cpu {
namespace {

uint64_t read_xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

Features detect() {
  Features f;
  uint32_t a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  if (osxsave) {
    const uint64_t xcr0 = read_xcr0();
    f.os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
    f.os_zmm = f.os_ymm && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM
    f.os_amx = (xcr0 & 0x60000) == 0x60000;     // XTILECFG (17) + XTILEDATA (18)
  }
  uint32_t max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = (b >> 5) & 1;
  f.avx512f = (b >> 16) & 1;
  f.avx512dq = (b >> 17) & 1;
  f.avx512bw = (b >> 30) & 1;
  f.avx512vl = (b >> 31) & 1;
  f.avx512_vbmi = (c >> 1) & 1;
  f.avx512_vnni = (c >> 11) & 1;
  f.amx_bf16 = (d >> 22) & 1;
  f.avx512_fp16 = (d >> 23) & 1;
  f.amx_tile = (d >> 24) & 1;
  f.amx_int8 = (d >> 25) & 1;
  __cpuid_count(7, 1, a, b, c, d);
  f.avx512_bf16 = (a >> 5) & 1;
  return f;
}

Isa parse_env_cap() {
  const char* env = std::getenv("FATHOM_ISA");
  if (env == nullptr || *env == 0) return Isa::Avx512;
  Isa isa;
  if (!parse_isa(env, &isa)) fail("FATHOM_ISA={}: expected scalar, avx2 or avx512", env);
  if (!isa_supported(isa))
    fail("FATHOM_ISA={}: this CPU/OS does not support it ({})", env, describe());
  return isa;
}

}  // namespace

const Features& features() {
  static const Features f = detect();
  return f;
}

bool isa_supported(Isa isa) {
  const Features& f = features();
  const bool avx2 = f.avx2 && f.fma && f.f16c && f.os_ymm;
  const bool avx512 = avx2 && kernel_isa_supported(KernelIsa::avx512);
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return avx2;
    case Isa::Avx512: return avx512;
  }
  return false;
}

Isa active_isa() {
  static const Isa chosen = [] {
    Isa best = Isa::Scalar;
    for (Isa i : {Isa::Avx2, Isa::Avx512})
      if (isa_supported(i)) best = i;
    const Isa cap = parse_env_cap();
    return best < cap ? best : cap;
  }();
  // Said on stderr when asked for (FATHOM_VERBOSE) or when FATHOM_ISA changed the choice; the
  // commands that report speed (bench, run --verbose) print describe() themselves.
  static std::once_flag logged;
  std::call_once(logged, [] {
    if (!std::getenv("FATHOM_VERBOSE") && !std::getenv("FATHOM_ISA")) return;
    std::fprintf(stderr, "fathom: cpu kernels: using %s; %s\n", std::string(isa_name(chosen)).c_str(),
                 describe().c_str());
  });
  return chosen;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool parse_isa(std::string_view name, Isa* out) {
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (name == isa_name(i)) {
      *out = i;
      return true;
    }
  return false;
}

std::string describe() {
  const Features& f = features();
  Isa best = Isa::Scalar;
  for (Isa i : {Isa::Avx2, Isa::Avx512})
    if (isa_supported(i)) best = i;
  const char* env = std::getenv("FATHOM_ISA");
  std::string s = fmt::format("best {}", isa_name(best));
  if (env && *env) s += fmt::format(", capped by FATHOM_ISA={}", env);
  s += fmt::format(" [avx2:{} fma:{} f16c:{} avx512f/bw/vl/dq:{}{}{}{} bf16:{} vnni:{} fp16:{} vbmi:{}",
                   int(f.avx2), int(f.fma), int(f.f16c), int(f.avx512f), int(f.avx512bw),
                   int(f.avx512vl), int(f.avx512dq), int(f.avx512_bf16), int(f.avx512_vnni),
                   int(f.avx512_fp16), int(f.avx512_vbmi));
  s += fmt::format(" os-ymm:{} os-zmm:{}; amx tile/bf16/int8:{}{}{} os:{} (no amx kernels)]", int(f.os_ymm),
                   int(f.os_zmm), int(f.amx_tile), int(f.amx_bf16), int(f.amx_int8), int(f.os_amx));
  return s;
}

}  // namespace fathom::cpu
