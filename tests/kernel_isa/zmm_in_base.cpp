// Fixture for test kernel_isa_check_rejects_avx512_in_base: a base (x86-64-v3) file compiled with
// -mavx512f (tests/kernel_isa.cmake). The check must reject the object: base code runs on any AVX2
// machine.
#include <immintrin.h>

__m512 fixture_add_floats(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
