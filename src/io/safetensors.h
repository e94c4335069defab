// Safetensors: an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw little-endian data. Reading validates everything
// before any tensor is used; writing streams tensors one at a time (never a whole model in RAM).
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/mapped_file.h"

namespace fathom::io {

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapped file
  size_t nbytes = 0;
  const std::string* file = nullptr;  // the shard it lives in, for error messages

  int64_t numel() const;
  std::string shape_str() const;  // "[2048, 512]"
};

class SafetensorsFile {
 public:
  // Maps and validates the file: header length and JSON, known dtypes, shapes, offsets inside the
  // data region, byte counts matching shape x dtype, no overlapping tensors.
  explicit SafetensorsFile(const std::string& path, bool in_memory = false,
                           const MappedFile::Progress& progress = {});

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;
  const std::string& path() const { return file_.path(); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  MappedFile file_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Streaming writer: declare every tensor first (the header needs all offsets), then write the
// data in declaration order. The file is written to PATH.tmp and renamed on finish(), so a crash
// never leaves a half-written file under the final name.
class SafetensorsWriter {
 public:
  explicit SafetensorsWriter(std::string path);
  ~SafetensorsWriter();
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape);
  void set_metadata(const std::string& key, const std::string& value);
  // Writes the header; afterwards write() each tensor's bytes in declaration order (a tensor may
  // arrive in several consecutive chunks), then finish().
  void begin();
  void write(const std::string& name, const void* data, size_t nbytes);
  void finish();
  uint64_t data_bytes() const { return data_bytes_; }

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::string path_;
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
  size_t next_ = 0;
  uint64_t written_ = 0;  // bytes of entries_[next_] written so far
  uint64_t data_bytes_ = 0;
  std::FILE* f_ = nullptr;
};

}  // namespace fathom::io
