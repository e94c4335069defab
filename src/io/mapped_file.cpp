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
    const size_t huge = size_t(2) << 20;  // whole huge pages
    try {
      memory_ = HugeBuffer((size_ + huge - 1) / huge * huge, path + ": loading it");
    } catch (...) {
      ::close(fd);
      throw;
    }
    uint8_t* dst = memory_.as<uint8_t>();
    size_t done = 0;
    while (done < size_) {
      ssize_t n = ::pread(fd, dst + done, std::min<size_t>(size_ - done, size_t(64) << 20), off_t(done));
      if (n <= 0) {
        ::close(fd);
        fail("{}: read failed at byte {}: {}", path, done, n < 0 ? std::strerror(errno) : "unexpected end of file");
      }
      done += size_t(n);
      if (progress) progress(done);
    }
    memory_.seal();
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
  if (mapped_) ::munmap(const_cast<uint8_t*>(data_), mapped_);
}

}  // namespace fathom::io
