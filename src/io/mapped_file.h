// A read-only file image (RAII). By default the file is memory-mapped (pages come from the page
// cache on first touch). With in_memory the file is read into a HugeBuffer (anonymous memory advised
// for transparent huge pages): decode streams every weight once per token, and with 4 KB pages the
// TLB misses cost about half the bandwidth.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/huge_buffer.h"

namespace fathom::io {

class MappedFile {
 public:
  // Reading progress: called with bytes read so far (in_memory only).
  using Progress = std::function<void(uint64_t bytes)>;
  explicit MappedFile(const std::string& path, bool in_memory = false,
                      const Progress& progress = {});  // throws fathom::Error naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // bytes of the file mapping (0 when in memory)
  HugeBuffer memory_;  // the in-memory image
};

}  // namespace fathom::io
