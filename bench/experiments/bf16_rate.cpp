// Issue rate of vdpbf16ps and of vfmadd231ps (zmm) on one core, from registers only, 12
// independent accumulator chains each, in thread CPU time (so other load on the machine shrinks
// neither). Why the low-precision training GEMM (src/training/lowp_gemm.h) multiplies in f32 FMA
// rather than with VDPBF16PS. Not built by CMake:
//   g++ -O2 -march=native bench/experiments/bf16_rate.cpp -o build/bf16_rate && build/bf16_rate
// Measured on the dev VM (Emerald Rapids, 2026-12-07, load average ~13): dpbf16 1.30 / ns, fma
// 5.29 / ns (three repeats within 5%). 1.3 x 32 products vs 5.3 x 16: VDPBF16PS gives half the f32
// FMA's products per second here (docs/PERFORMANCE.md's roofline: 85 vs 176 GFLOP/s per core).
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <ctime>
static double cpu(){timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  __m512 a[12]; for(int i=0;i<12;i++) a[i]=_mm512_set1_ps(i);
  __m512bh b=(__m512bh)_mm512_set1_epi32(0x3f803f80), c=(__m512bh)_mm512_set1_epi32(0x3f803f80);
  __m512 f[12]; for(int i=0;i<12;i++) f[i]=_mm512_set1_ps(i);
  __m512 fb=_mm512_set1_ps(1.0001f), fc=_mm512_set1_ps(0.999f);
  long N=50000000;
  for(int rep=0;rep<3;rep++){
  double t0=cpu();
  for(long n=0;n<N;n++){
    #pragma GCC unroll 12
    for(int i=0;i<12;i++) a[i]=_mm512_dpbf16_ps(a[i],b,c);
    asm volatile(""::"v"(b),"v"(c));
  }
  double t1=cpu();
  for(long n=0;n<N;n++){
    #pragma GCC unroll 12
    for(int i=0;i<12;i++) f[i]=_mm512_fmadd_ps(f[i],fb,fc);
    asm volatile(""::"v"(fb),"v"(fc));
  }
  double t2=cpu();
  printf("dpbf16/ns %.2f  fma/ns %.2f (cpu time)\n", 12.0*N/(t1-t0)/1e9, 12.0*N/(t2-t1)/1e9);
  }
  float s=0; for(int i=0;i<12;i++) s+=_mm512_reduce_add_ps(a[i])+_mm512_reduce_add_ps(f[i]); printf("%f\n",s);
}
