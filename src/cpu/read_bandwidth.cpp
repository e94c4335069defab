#include "cpu/read_bandwidth.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"

namespace fathom::cpu {
namespace {

// Slices handed out dynamically: a thread the machine delays does not hold the others up.
constexpr size_t kSlice = size_t(16) << 20;
constexpr size_t kStep = 256;  // bytes per loop iteration: 8 independent 32-byte loads

// AVX2 is the build's baseline (x86-64-v3).
uint64_t read_slice_avx2(const uint8_t* p, size_t bytes) {
  __m256i a[8];
  for (auto& v : a) v = _mm256_setzero_si256();
  for (size_t i = 0; i + kStep <= bytes; i += kStep)
    for (int k = 0; k < 8; ++k)
      a[k] = _mm256_xor_si256(a[k], _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32 * k)));
  for (int k = 1; k < 8; ++k) a[0] = _mm256_xor_si256(a[0], a[k]);
  return uint64_t(_mm256_extract_epi64(a[0], 0) ^ _mm256_extract_epi64(a[0], 3));
}

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(size_t bytes) {
  bytes = bytes / kSlice * kSlice;
  if (bytes == 0) fail("read bandwidth probe: the buffer must be at least {} MiB", kSlice >> 20);
  buf_ = HugeBuffer(bytes, "read bandwidth probe");
  // Non-zero contents, so that no page stays shared with the zero page.
  std::memset(buf_.as<uint8_t>(), 0x5a, bytes);
}

double ReadBandwidthProbe::measure(ThreadPool* pool, int passes) const {
  const uint8_t* p = buf_.as<uint8_t>();
  const int64_t slices = int64_t(buf_.bytes() / kSlice);
  std::atomic<uint64_t> sink{0};  // an atomic update per slice: the reads cannot be optimized away
  const bool wide = isa_supported(Isa::Avx512);
  auto read = [&](int64_t s, int) {
    const uint8_t* slice = p + size_t(s) * kSlice;
    sink.fetch_xor(wide ? detail::read_slice_avx512(slice, kSlice) : read_slice_avx2(slice, kSlice), std::memory_order_relaxed);
  };
  double best = 0;
  for (int pass = 0; pass < std::max(1, passes); ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    if (pool)
      pool->parallel_for(slices, read);
    else
      for (int64_t s = 0; s < slices; ++s) read(s, 0);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(buf_.bytes()) / dt / 1e9);
  }
  return best;
}

}  // namespace fathom::cpu
