// One allocation for many named buffers (llm.c style). Declare every buffer with take(&ptr, n),
// call allocate() once, and the pointers are set; nothing is allocated inside a training step.
// The structs holding the pointers must not move after take() (reserve vectors up front).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace fathom::train {

class Arena {
 public:
  template <typename T>
  void take(T** p, int64_t n) {
    // The pointer is set through its own type T*: writing it through a void** would be undefined
    // behaviour (T* and void* are different types, so the compiler may assume they never alias).
    auto set = [](void* slot, std::byte* at) { *static_cast<T**>(slot) = reinterpret_cast<T*>(at); };
    reqs_.push_back({p, set, size_t(n < 0 ? 0 : n) * sizeof(T)});
  }
  // Allocates (zero-filled, 64-byte aligned) and sets every declared pointer.
  void allocate() {
    size_t total = 0;
    for (auto& r : reqs_) total += round_up(r.bytes);
    buf_.reset(static_cast<std::byte*>(std::aligned_alloc(64, round_up(total) + 64)));
    std::memset(buf_.get(), 0, round_up(total) + 64);
    size_t off = 0;
    for (auto& r : reqs_) {
      r.set(r.slot, buf_.get() + off);
      off += round_up(r.bytes);
    }
    bytes_ = total;
    reqs_.clear();
  }
  size_t bytes() const { return bytes_; }

 private:
  static size_t round_up(size_t b) { return (b + 63) / 64 * 64; }
  struct Req {
    void* slot;                             // the T* to set
    void (*set)(void* slot, std::byte* at);  // *(T**)slot = (T*)at
    size_t bytes;
  };
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::vector<Req> reqs_;
  std::unique_ptr<std::byte, Free> buf_;
  size_t bytes_ = 0;
};

}  // namespace fathom::train
