// A zero-filled float buffer in anonymous memory advised to use transparent huge pages. For data
// that is streamed once per token and grows with the context (the latent cache): with 4 KiB pages
// the TLB misses of a virtual machine's nested page walk cost a large share of streaming bandwidth,
// and pages are only touched (and count towards RSS) once written, not all at allocation.
#pragma once
#include <cstddef>

namespace fathom {

class HugeBuffer {
 public:
  HugeBuffer() = default;
  explicit HugeBuffer(size_t floats);  // throws when the memory cannot be mapped
  ~HugeBuffer();
  HugeBuffer(HugeBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  HugeBuffer& operator=(HugeBuffer&& o) noexcept;
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;

  float* data() { return p_; }
  const float* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace fathom
