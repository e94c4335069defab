#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace fathom::io {

MappedFile::MappedFile(const std::string& path, bool in_memory, const Progress& progress) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", path);
  }
  size_ = size_t(st.st_size);
  if (size_ > 0 && in_memory) {
    const size_t huge = size_t(2) << 20;
    mapped_ = (size_ + huge - 1) / huge * huge;
    void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      fail("{}: cannot allocate {} bytes to load it: {}", path, size_, std::strerror(errno));
    }
    ::madvise(p, mapped_, MADV_HUGEPAGE);
    uint8_t* dst = static_cast<uint8_t*>(p);
    size_t done = 0;
    while (done < size_) {
      ssize_t n = ::pread(fd, dst + done, std::min<size_t>(size_ - done, size_t(64) << 20), off_t(done));
      if (n <= 0) {
        ::munmap(p, mapped_);
        ::close(fd);
        fail("{}: read failed at byte {}: {}", path, done, n < 0 ? std::strerror(errno) : "unexpected end of file");
      }
      done += size_t(n);
      if (progress) progress(done);
    }
    ::mprotect(p, mapped_, PROT_READ);
    data_ = dst;
  } else if (size_ > 0) {
    mapped_ = size_;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      fail("{}: mmap failed: {}", path, std::strerror(errno));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), mapped_);
}

}  // namespace fathom::io
