#include "core/huge_buffer.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace fathom {

HugeBuffer::HugeBuffer(size_t floats) : n_(floats) {
  if (floats == 0) return;
  void* p = ::mmap(nullptr, floats * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) fail("cannot allocate {} bytes: {}", floats * sizeof(float), std::strerror(errno));
  ::madvise(p, floats * sizeof(float), MADV_HUGEPAGE);  // advice only: fine if refused
  p_ = static_cast<float*>(p);
}

HugeBuffer::~HugeBuffer() {
  if (p_) ::munmap(p_, n_ * sizeof(float));
}

HugeBuffer& HugeBuffer::operator=(HugeBuffer&& o) noexcept {
  if (this != &o) {
    if (p_) ::munmap(p_, n_ * sizeof(float));
    p_ = std::exchange(o.p_, nullptr);
    n_ = std::exchange(o.n_, 0);
  }
  return *this;
}

}  // namespace fathom
