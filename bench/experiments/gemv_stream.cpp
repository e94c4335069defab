// Streaming experiment behind docs/PERFORMANCE.md's "where decode's time goes": a copy of the
// AVX-512 Q8_0 GEMV loop (rows [nb f16 scales][nb * 32 int8], 2,048 columns) streaming 1 GiB of
// huge pages, each thread a static half, no thread pool, next to a plain read loop. Variants
// change one thing each; some compute wrong results on purpose (they only measure speed).
// Not part of the build:
//   g++ -O2 -march=native -std=c++20 bench/experiments/gemv_stream.cpp -o build/gemv_stream -lpthread
//   chrt -r 1 build/gemv_stream THREADS [PREFETCH_BYTES]   (ONLY3=1: read, gemv_pf and gemv_il only)
#include <immintrin.h>
#include <sys/mman.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <thread>
#include <vector>
#include <algorithm>
constexpr int64_t COLS = 2048, NB = COLS / 32, ROWB = NB * 34;
static int64_t PF = 3072;
struct Act { alignas(64) int8_t q[COLS]; alignas(64) float dx[NB]; alignas(64) int32_t c[NB / 2 * 16]; };

__attribute__((noinline)) float read_only(const uint8_t* p, int64_t rows, float* y) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0;
  const int64_t bytes = rows * ROWB;
  for (int64_t i = 0; i + 128 <= bytes; i += 128) {
    a0 = _mm512_xor_si512(a0, _mm512_loadu_si512(p + i));
    a1 = _mm512_xor_si512(a1, _mm512_loadu_si512(p + i + 64));
  }
  float r = float(_mm512_reduce_or_epi64(_mm512_xor_si512(a0, a1))); y[0] = r; return r;
}

template <int VAR>
__attribute__((noinline)) float gemv(const uint8_t* W, int64_t rows, const Act& A, float* Y) {
  const __m512i idx0 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i flip = _mm512_set1_epi8(int8_t(0x80));
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = W + r * ROWB;
    const uint16_t* ws = reinterpret_cast<const uint16_t*>(row);
    const int8_t* wq = reinterpret_cast<const int8_t*>(ws + NB);
    __m512 acc = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps();
    for (int64_t b0 = 0; b0 < NB; b0 += 16) {
      const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(ws + b0)));
      __m512 sc = _mm512_mul_ps(dw, _mm512_load_ps(A.dx + b0));
#pragma GCC unroll 8
      for (int g = 0; g < 8; ++g) {
        const int8_t* wp = wq + (b0 + 2 * g) * 32;
        if (VAR == 6) _mm_prefetch((const char*)wp + PF, _MM_HINT_NTA);
        else if (VAR == 7) _mm_prefetch((const char*)wp + PF, _MM_HINT_T2);
        else if (VAR != 1 && !(VAR == 4 && (g & 1))) _mm_prefetch((const char*)wp + PF, _MM_HINT_T0);
        const __m512i w = _mm512_loadu_si512(wp);
        const __m512i wu = VAR == 5 ? w : _mm512_xor_si512(w, flip);
        const __m512i idx = _mm512_add_epi32(idx0, _mm512_set1_epi32(2 * g));
        const __m512i s = _mm512_dpbusd_epi32(_mm512_load_si512(A.c + (b0 / 2 + g) * 16), wu, _mm512_load_si512(A.q + (b0 + 2 * g) * 32));
        if (VAR == 3 && (g & 1)) { acc2 = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(acc2), w)); continue; }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_permutexvar_ps(idx, sc), acc);
      }
    }
    Y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc, acc2));
  }
  return Y[0];
}

// Block-interleaved layout (speed model of a stored format): per 16 blocks, the 512 quant bytes
// are dword-interleaved (dword k of block j at (k * 16 + j) * 4), stored as w + 128, activations
// laid out alike; 8 vpdpbusd leave block j's whole dot in lane j, so one convert and two FMAs per
// 16 blocks replace a convert, a permute and an FMA per 2 blocks, and no xor or start-value load.
__attribute__((noinline)) float gemv_il(const uint8_t* W, int64_t rows, const Act& A, float* Y) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = W + r * ROWB;
    const uint16_t* ws = reinterpret_cast<const uint16_t*>(row);
    const uint8_t* wq = reinterpret_cast<const uint8_t*>(ws + NB);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b0 = 0; b0 < NB; b0 += 16) {
      __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int g = 0; g < 8; g += 2) {
        const uint8_t* wp = wq + (b0 + 2 * g) * 32;
        _mm_prefetch((const char*)wp + PF, _MM_HINT_T0);
        _mm_prefetch((const char*)wp + PF + 64, _MM_HINT_T0);
        s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(wp), _mm512_load_si512(A.q + (b0 + 2 * g) * 32));
        s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(wp + 64), _mm512_load_si512(A.q + (b0 + 2 * g) * 32 + 64));
      }
      const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(ws + b0)));
      const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_load_ps(A.dx + b0), _mm512_load_ps(A.dx + b0));
      acc = _mm512_fmadd_ps(t, dw, acc);
    }
    Y[r] = _mm512_reduce_add_ps(acc);
  }
  return Y[0];
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (argc > 2) PF = atoll(argv[2]);
  const int64_t rows_total = (1ll << 30) / ROWB;  // ~1 GiB
  size_t bytes = size_t(rows_total * ROWB);
  uint8_t* W = (uint8_t*)mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  madvise(W, bytes, MADV_HUGEPAGE);
  for (int64_t r = 0; r < rows_total; ++r) {
    uint16_t* s = (uint16_t*)(W + r * ROWB);
    for (int b = 0; b < NB; ++b) s[b] = 0x2000;
    for (int64_t i = NB * 2; i < ROWB; ++i) W[r * ROWB + i] = uint8_t(i * 7 + r);
  }
  Act A; for (int i = 0; i < COLS; ++i) A.q[i] = int8_t(i % 200 - 100);
  for (int b = 0; b < NB; ++b) A.dx[b] = 0.01f; for (auto& c : A.c) c = 0;
  std::vector<float> Y(rows_total);
  const int64_t chunk = 10944;  // rows per "matrix"
  auto run = [&](auto fn, const char* name) {
    std::vector<double> gbs;
    for (int rep = 0; rep < 5; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      std::vector<std::thread> th;
      for (int t = 0; t < threads; ++t) th.emplace_back([&, t] {
        const int64_t per = rows_total / threads, a = t * per;
        for (int64_t r = a; r < a + per; r += chunk) fn(W + r * ROWB, std::min(chunk, a + per - r), A, Y.data() + r);
      });
      for (auto& x : th) x.join();
      double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      gbs.push_back(bytes / dt / 1e9);
    }
    std::sort(gbs.begin(), gbs.end());
    printf("%-12s threads %d  median %.2f best %.2f GB/s\n", name, threads, gbs[2], gbs[4]);
  };
  run([](const uint8_t* p, int64_t r, const Act&, float* y) { return read_only(p, r, y); }, "read");
  run(gemv<0>, "gemv_pf");       // the kernel as shipped: prefetcht0 PREFETCH_BYTES ahead
  run(gemv_il, "gemv_il");      // block-interleaved stored format (above)
  if (getenv("ONLY3")) return 0;
  run(gemv<1>, "gemv_nopf");     // no software prefetch
  run(gemv<3>, "gemv_halfcmp");  // every other 64 bytes only xor-ed in (wrong result: less arithmetic)
  run(gemv<4>, "gemv_pfhalf");   // prefetch every other line
  run(gemv<5>, "gemv_noflip");   // weights taken as already unsigned (wrong result: one op fewer)
  run(gemv<6>, "gemv_nta");      // prefetchnta
  run(gemv<7>, "gemv_t2");       // prefetcht2
}
