#include "core/huge_buffer.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace fathom {

HugeBuffer::HugeBuffer(size_t bytes, std::string_view what) : n_(bytes) {
  if (bytes == 0) return;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) fail("{}: cannot allocate {} bytes: {}", what, bytes, std::strerror(errno));
  ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: fine if refused
  p_ = p;
}

HugeBuffer::~HugeBuffer() {
  if (p_) ::munmap(p_, n_);
}

HugeBuffer& HugeBuffer::operator=(HugeBuffer&& o) noexcept {
  if (this != &o) {
    if (p_) ::munmap(p_, n_);
    p_ = std::exchange(o.p_, nullptr);
    n_ = std::exchange(o.n_, 0);
  }
  return *this;
}

void HugeBuffer::seal() {
  if (p_) ::mprotect(p_, n_, PROT_READ);
}

}  // namespace fathom
