// The AVX-512 reader of the read-bandwidth probe (read_bandwidth.cpp), in its own file so that it
// gets the avx512 row's flags (cpu/kernel_isa.def) and the rest of the probe stays base x86-64-v3.
//
// The widest loads the CPU has: per core, fewer load instructions per cache line keep more lines in
// flight (32-byte loads reach a lower rate than 64-byte ones), and the ceiling should be the highest
// rate a kernel could reach.
#include <immintrin.h>

#include "cpu/read_bandwidth.h"

namespace fathom::cpu::detail {

uint64_t read_slice_avx512(const uint8_t* p, size_t bytes) {
  __m512i a[8];
  for (auto& v : a) v = _mm512_setzero_si512();
  for (size_t i = 0; i + 8 * 64 <= bytes; i += 8 * 64)
    for (int k = 0; k < 8; ++k) a[k] = _mm512_xor_si512(a[k], _mm512_load_si512(p + i + 64 * k));
  for (int k = 1; k < 8; ++k) a[0] = _mm512_xor_si512(a[0], a[k]);
  alignas(64) uint64_t v[8];
  _mm512_store_si512(v, a[0]);
  return v[0] ^ v[7];
}

}  // namespace fathom::cpu::detail
