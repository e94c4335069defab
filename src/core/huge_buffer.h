// Zero-filled anonymous memory advised to use transparent huge pages, for data streamed once per
// token: model weights read into memory (io::MappedFile) and the latent cache. With 4 KiB pages the
// TLB misses of a virtual machine's nested page walk cost a large share of streaming bandwidth
// (docs/PERFORMANCE.md). Pages are only backed (and count towards RSS)
// once written, so a buffer sized for a whole context costs nothing until it fills.
#pragma once
#include <cstddef>
#include <string_view>

namespace fathom {

class HugeBuffer {
 public:
  HugeBuffer() = default;
  // Throws fathom::Error naming `what` when the memory cannot be mapped.
  HugeBuffer(size_t bytes, std::string_view what);
  ~HugeBuffer();
  HugeBuffer(HugeBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  HugeBuffer& operator=(HugeBuffer&& o) noexcept;
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;

  template <typename T>
  T* as() { return static_cast<T*>(p_); }
  template <typename T>
  const T* as() const { return static_cast<const T*>(p_); }
  size_t bytes() const { return n_; }
  // Makes the whole buffer read-only (weights, once loaded).
  void seal();

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace fathom
