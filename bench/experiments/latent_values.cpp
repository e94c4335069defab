// The value phase of the int8 latent-attention kernel, two ways, on cached data (one 64-row
// block of a 512-column latent, 16 heads), against the register-only vpdpbusd rate. Results are
// not checked here (tests/ops_latent_q8_test.cpp checks the kernel); only the instruction mix is.
//   columns: rows x 16 columns per accumulator (the kernel before run 11): each (4 rows of a
//     column) operand assembled in registers from four cache lines (2 lane shuffles, 1 vpermi2b
//     and 1 xor per vector), each head's probabilities a separate broadcast load.
//   heads: 16 heads per accumulator (run 11): the operand is a dword of a pre-permuted copy,
//     broadcast by vpdpbusd itself; the 16 probability vectors of the block stay in registers.
// Not built by CMake:
//   g++ -O2 -march=native bench/experiments/latent_values.cpp -o build/latent_values && chrt -r 1 build/latent_values
// Measured on the dev VM (2026-11-23), three rounds: register-only 5.65-5.89, columns 2.39-2.86,
// heads 3.97-4.49 vpdpbusd/ns.
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace {

alignas(64) uint8_t cache[4 * 9216];  // 4 row groups of 144 lines (DeepSeek's 576 columns)
alignas(64) uint8_t copy[4 * 8192];   // the latent part, permuted (heads)
alignas(64) uint8_t p8[16 * 64];      // [head][row]
alignas(64) int32_t pv[16][16];       // [row quad][head]
alignas(64) float out[512 * 16];
alignas(64) float fo[16], sp[16];

#define Z(k) "vpxord %%zmm" #k ", %%zmm" #k ", %%zmm" #k "\n\t"
#define R(k) "vpdpbusd %%zmm20, %%zmm21, %%zmm" #k "\n\t"
#define X16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
void register_only(long n) {
  asm volatile(X16(Z) "1:\n\t" X16(R) "dec %[n]\n\tjnz 1b" : [n] "+r"(n) : : "cc", "xmm0", "xmm1", "xmm2", "xmm3",
               "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

#define DOT(h) "vpbroadcastd " #h "*64(%[p]), %[b]\n\tvpdpbusd %[t], %[b], %" #h "\n\t"
#define DOT8(h0, a0, a1, a2, a3, a4, a5, a6, a7, tv, pp)                                                  \
  asm(DOT(0) DOT(1) DOT(2) DOT(3) DOT(4) DOT(5) DOT(6) DOT(7)                                             \
      : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7), [b] "=&v"(bc)     \
      : [t] "v"(tv), [p] "r"((pp) + (h0) * 64), "m"(*(const uint8_t(*)[])((pp) + (h0) * 64)))
// One 16-column tile over 4 row groups, as the kernel did before run 11.
void columns_tile(const uint8_t* g, const uint8_t* p, float* o) {
  const __m512i idx0 = _mm512_set1_epi8(1), idx1 = _mm512_set1_epi8(2), flip = _mm512_set1_epi8(int8_t(0x80));
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
          a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0, bc;
  for (int gi = 0; gi < 4; ++gi, g += 9216, p += 16) {
    const __m512i l0 = _mm512_load_si512(g), l1 = _mm512_load_si512(g + 64), l2 = _mm512_load_si512(g + 128),
                  l3 = _mm512_load_si512(g + 192);
    const __m512i x_lo = _mm512_shuffle_i64x2(l0, l1, 0x44), x_hi = _mm512_shuffle_i64x2(l0, l1, 0xEE);
    const __m512i y_lo = _mm512_shuffle_i64x2(l2, l3, 0x44), y_hi = _mm512_shuffle_i64x2(l2, l3, 0xEE);
    const __m512i t[4] = {_mm512_xor_si512(_mm512_permutex2var_epi8(x_lo, idx0, y_lo), flip),
                          _mm512_xor_si512(_mm512_permutex2var_epi8(x_lo, idx1, y_lo), flip),
                          _mm512_xor_si512(_mm512_permutex2var_epi8(x_hi, idx0, y_hi), flip),
                          _mm512_xor_si512(_mm512_permutex2var_epi8(x_hi, idx1, y_hi), flip)};
#pragma GCC unroll 4
    for (int rr = 0; rr < 4; ++rr) {
      DOT8(0, a0, a1, a2, a3, a4, a5, a6, a7, t[rr], p + rr * 4);
      DOT8(8, a8, a9, a10, a11, a12, a13, a14, a15, t[rr], p + rr * 4);
    }
  }
#define OUT(h) \
  _mm512_storeu_ps(o + h * 512, _mm512_fmadd_ps(_mm512_cvtepi32_ps(a##h), _mm512_set1_ps(sp[h]), _mm512_mul_ps(_mm512_loadu_ps(o + h * 512), _mm512_set1_ps(fo[h]))));
  OUT(0) OUT(1) OUT(2) OUT(3) OUT(4) OUT(5) OUT(6) OUT(7) OUT(8) OUT(9) OUT(10) OUT(11) OUT(12) OUT(13) OUT(14) OUT(15)
}

// The run-11 loop (values() in src/ops/latent_attention_q8_avx512vbmi.cpp), all 64 chunks of 8 columns.
#define VD(k, q, g, P) "vpdpbusd " #k "*16+" #q "*4(%[v" #g "])%{1to16%}, %%zmm" #P ", %%zmm" #k "\n\t"
#define V8(q, g, P) VD(0, q, g, P) VD(1, q, g, P) VD(2, q, g, P) VD(3, q, g, P) VD(4, q, g, P) VD(5, q, g, P) VD(6, q, g, P) VD(7, q, g, P)
#define VG(g, P0, P1, P2, P3) V8(0, g, P0) V8(1, g, P1) V8(2, g, P2) V8(3, g, P3)
#define LP(i, P) "vmovdqa64 " #i "*64(%[p]), %%zmm" #P "\n\t"
#define E(k) "vcvtdq2ps %%zmm" #k ", %%zmm" #k "\n\t" "vmulps " #k "*64(%[o]), %%zmm9, %%zmm8\n\t" \
  "vfmadd231ps %%zmm10, %%zmm" #k ", %%zmm8\n\t" "vmovups %%zmm8, " #k "*64(%[o])\n\t"
void heads_block() {
  const uint8_t *v0 = copy, *v1 = copy + 8192, *v2 = copy + 16384, *v3 = copy + 24576;
  float* o = out;
  long n = 64;
  asm volatile(LP(0, 16) LP(1, 17) LP(2, 18) LP(3, 19) LP(4, 20) LP(5, 21) LP(6, 22) LP(7, 23) LP(8, 24) LP(9, 25)
               LP(10, 26) LP(11, 27) LP(12, 28) LP(13, 29) LP(14, 30) LP(15, 31)
               "vmovups (%[fo]), %%zmm9\n\t" "vmovups (%[sp]), %%zmm10\n\t"
               "1:\n\t" Z(0) Z(1) Z(2) Z(3) Z(4) Z(5) Z(6) Z(7)
               VG(0, 16, 17, 18, 19) VG(1, 20, 21, 22, 23) VG(2, 24, 25, 26, 27) VG(3, 28, 29, 30, 31)
               E(0) E(1) E(2) E(3) E(4) E(5) E(6) E(7)
               "add $128, %[v0]\n\tadd $128, %[v1]\n\tadd $128, %[v2]\n\tadd $128, %[v3]\n\tadd $512, %[o]\n\t"
               "dec %[n]\n\tjnz 1b"
               : [v0] "+r"(v0), [v1] "+r"(v1), [v2] "+r"(v2), [v3] "+r"(v3), [o] "+r"(o), [n] "+r"(n)
               : [p] "r"(pv), [fo] "r"(fo), [sp] "r"(sp)
               : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                 "xmm10", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25",
                 "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}

template <class F>
double rate(F f, double products_per_call, long calls) {
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < calls; ++i) f();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return products_per_call * double(calls) / s / 1e9;
}

}  // namespace

int main() {
  for (int i = 0; i < 16; ++i) fo[i] = 1.0f, sp[i] = 0.0f;
  for (int round = 0; round < 3; ++round) {
    const double reg = rate([] { register_only(1000); }, 16000.0, 20000);
    // 32 tiles x 4 groups x 64 products per block, both ways.
    const double cols = rate([] { for (int c = 0; c < 32; ++c) columns_tile(cache + c * 256, p8, out + c * 16); },
                             32.0 * 4 * 64, 40000);
    const double heads = rate([] { heads_block(); }, 64.0 * 128, 40000);
    std::printf("vpdpbusd/ns: register-only %.2f  columns %.2f  heads %.2f\n", reg, cols, heads);
  }
}
