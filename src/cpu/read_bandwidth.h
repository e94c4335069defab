// The memory read bandwidth the pool's threads can sustain: the ceiling a bandwidth-bound kernel
// (decode's GEMV) is measured against. Same method as peer-bench's `roofline bw`: the threads stream
// disjoint slices of a buffer far larger than the last-level cache; best of a few passes.
//
// Why in-process: on a shared machine the ceiling itself moves within minutes, so
// `fathom bench --ceiling` measures it right before every tg repetition and reports each
// repetition's share of its own ceiling.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/huge_buffer.h"

namespace fathom::cpu {

class ThreadPool;

class ReadBandwidthProbe {
 public:
  // Allocates and touches `bytes` of huge-page memory (use several times the L3 size).
  explicit ReadBandwidthProbe(size_t bytes);
  // Best GB/s (1e9 bytes/s) over `passes` full reads by the pool's threads (null: this thread).
  double measure(ThreadPool* pool, int passes) const;
  size_t bytes() const { return buf_.bytes(); }

 private:
  HugeBuffer buf_;
};

namespace detail {
// XOR of the slice's 64-byte lines read with zmm loads (read_bandwidth_avx512.cpp); the caller checks
// Isa::Avx512 first. A tail under 512 bytes is not read.
uint64_t read_slice_avx512(const uint8_t* p, size_t bytes);
}  // namespace detail

}  // namespace fathom::cpu
