// Writing `fathom prepare`'s outputs so that a crash never leaves a half-written file: each file is
// written to NAME.tmp and renamed into place once complete.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"

namespace fathom::train {

// A file of little-endian elements (uint32 token ids, uint8 loss masks) written to NAME.tmp and
// renamed into place by commit().
template <typename T>
class ArrayWriter {
 public:
  explicit ArrayWriter(std::filesystem::path path) : path_(std::move(path)), tmp_(path_) {
    tmp_ += ".tmp";
    f_.open(tmp_, std::ios::binary | std::ios::trunc);
    if (!f_) fail("cannot write {}", tmp_.string());
  }
  void write(const std::vector<T>& v) {
    f_.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
    count_ += static_cast<int64_t>(v.size());
  }
  void commit() {
    f_.close();
    if (!f_) fail("write to {} failed", tmp_.string());
    std::filesystem::rename(tmp_, path_);
  }
  int64_t count() const { return count_; }

 private:
  std::filesystem::path path_, tmp_;
  std::ofstream f_;
  int64_t count_ = 0;
};
using TokenWriter = ArrayWriter<uint32_t>;

// out_dir/meta.json, written whole and renamed into place.
inline void write_meta_json(const std::filesystem::path& out_dir, const nlohmann::ordered_json& meta) {
  const auto tmp = out_dir / "meta.json.tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << meta.dump(2) << "\n";
    if (!f) fail("cannot write {}", tmp.string());
  }
  std::filesystem::rename(tmp, out_dir / "meta.json");
}

}  // namespace fathom::train
