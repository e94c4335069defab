// Fixture for test kernel_isa_check_rejects_fp16: named as a file of the avx512 row but compiled
// with -mavx512fp16 as well (tests/kernel_isa.cmake), the flag the avx512 files once had. The check
// must reject the object: a CPU passing the avx512 dispatch (Ice Lake, Zen 4) has no vaddph.
#include <immintrin.h>

__m512h fixture_add_halves(__m512h a, __m512h b) { return _mm512_add_ph(a, b); }
