// Issue rate of vpdpbusd and of vfmadd (zmm) on one core, from registers only: 12 independent
// accumulator chains each, so latency never limits. The ceiling docs/PERFORMANCE.md compares the
// int8 latent-attention kernel against. Not built by CMake:
//   g++ -O2 -march=native bench/experiments/vnni_rate.cpp -o build/vnni_rate && chrt -r 1 build/vnni_rate
// Measured on the dev VM (2026-11-23): 5.15 vpdpbusd/ns, 5.50 FMA/ns; again 5.12 / 5.48.
#include <immintrin.h>
#include <chrono>
#include <cstdio>
int main(){
  __m512i a[12]; for(int i=0;i<12;i++) a[i]=_mm512_set1_epi32(i);
  __m512i b=_mm512_set1_epi32(3), c=_mm512_set1_epi32(5);
  __m512 f[12]; for(int i=0;i<12;i++) f[i]=_mm512_set1_ps(i);
  __m512 fb=_mm512_set1_ps(1.0001f), fc=_mm512_set1_ps(0.999f);
  long N=200000000;
  auto t0=std::chrono::steady_clock::now();
  for(long n=0;n<N;n++){
    #pragma GCC unroll 12
    for(int i=0;i<12;i++) a[i]=_mm512_dpbusd_epi32(a[i],b,c);
    asm volatile(""::"v"(b),"v"(c));
  }
  auto t1=std::chrono::steady_clock::now();
  for(long n=0;n<N;n++){
    #pragma GCC unroll 12
    for(int i=0;i<12;i++) f[i]=_mm512_fmadd_ps(f[i],fb,fc);
    asm volatile(""::"v"(fb),"v"(fc));
  }
  auto t2=std::chrono::steady_clock::now();
  double d1=std::chrono::duration<double>(t1-t0).count(), d2=std::chrono::duration<double>(t2-t1).count();
  int s=0; for(int i=0;i<12;i++) s+=_mm512_reduce_add_epi32(a[i]); float fs=0; for(int i=0;i<12;i++) fs+=_mm512_reduce_add_ps(f[i]);
  printf("dpbusd/ns %.2f  fma/ns %.2f  (%d %f)\n", 12.0*N/d1/1e9, 12.0*N/d2/1e9, s, fs);
}
