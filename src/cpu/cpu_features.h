// CPU feature detection and the run-time ISA choice for fathom's kernels.
// Features come from cpuid (what the core implements) and xgetbv/XCR0 (what the OS saves on context
// switch). AMX is detected and reported but has no kernels, so it is no level of its own; an AMX
// level would also have to request the Linux permission arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA)
// before any tile instruction.
// FATHOM_ISA=scalar|avx2|avx512 caps the choice (to test or benchmark a lower path); asking for a
// path the machine lacks is an error, never a silent fallback.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace fathom::cpu {

// Kernel families, lowest to highest. Each level's requirements:
//   Scalar: none (the plain-C reference ops).
//   Avx2:   AVX2 + FMA + F16C, OS saves ymm.
//   Avx512: AVX512 F/BW/VL/DQ + VNNI, OS saves zmm/opmask.
enum class Isa : uint8_t { Scalar = 0, Avx2 = 1, Avx512 = 2 };

struct Features {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_bf16 = false, avx512_vnni = false, avx512_fp16 = false, avx512_vbmi = false;
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false;
  bool os_ymm = false, os_zmm = false, os_amx = false;  // XCR0 state components enabled
};

// Detected once (thread-safe).
const Features& features();

bool isa_supported(Isa isa);
// Highest supported ISA, capped by FATHOM_ISA if set. Fails (fathom::Error) if FATHOM_ISA names an
// unknown or unsupported path. Computed once; logs the choice to stderr the first time.
Isa active_isa();

std::string_view isa_name(Isa isa);
bool parse_isa(std::string_view name, Isa* out);
// One line: the best path and the relevant features, e.g. "best avx512 [avx2:1 ... amx ...]".
std::string describe();

}  // namespace fathom::cpu
