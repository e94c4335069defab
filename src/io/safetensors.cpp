#include "io/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json.h"

namespace fathom::io {

using nlohmann::json;

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorView::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafetensorsFile::SafetensorsFile(const std::string& path, bool in_memory, const MappedFile::Progress& progress)
    : file_(path, in_memory, progress) {
  const size_t size = file_.size();
  if (size < 8) fail("{}: truncated safetensors file ({} bytes, the header length alone is 8)", path, size);
  uint64_t header_len = 0;
  std::memcpy(&header_len, file_.data(), 8);
  if (header_len > size - 8)
    fail("{}: header length {} runs past the end of the file ({} bytes)", path, header_len, size);
  if (header_len > (uint64_t(100) << 20))
    fail("{}: header length {} exceeds the 100 MB safety limit", path, header_len);
  const char* hdr = reinterpret_cast<const char*>(file_.data() + 8);
  // Bounded parse: depth-limited, and a tensor name given twice is an error, not last-one-wins.
  const json j = parse_json(std::string_view(hdr, header_len), path + " header");
  if (!j.is_object()) fail("{}: header is not a JSON object (got {})", path, describe_json(j));

  const uint8_t* data_start = file_.data() + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) fail("{}: __metadata__ is not an object", path);
      for (auto& [k, mv] : v.items())
        metadata_[k] = mv.is_string() ? mv.get<std::string>() : mv.dump();
      continue;
    }
    // name by init-capture: clang 14 (the fuzz build) cannot capture a structured binding.
    auto bad = [&, &name = name](const std::string& why) { fail("{}: tensor '{}': {}", path, name, why); };
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      bad("entry needs dtype, shape and data_offsets");
    TensorView t;
    t.name = name;
    t.file = &file_.path();
    if (!v["dtype"].is_string() || !parse_dtype(v["dtype"].get<std::string>(), &t.dtype))
      bad(fmt::format("unknown dtype {}", describe_json(v["dtype"])));
    if (!v["shape"].is_array()) bad("shape is not an array");
    uint64_t numel = 1;
    for (auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) bad(fmt::format("bad dimension {}", describe_json(d)));
      uint64_t dim = d.get<uint64_t>();
      if (dim && numel > std::numeric_limits<uint64_t>::max() / dim / 8) bad("shape overflows");
      numel *= dim;
      t.shape.push_back(int64_t(dim));
    }
    auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad("data_offsets must be [begin, end] with non-negative integers");
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e) bad(fmt::format("data_offsets [{}, {}] are reversed", b, e));
    if (e > data_size)
      bad(fmt::format("data_offsets [{}, {}] run past the end of the data ({} bytes; file truncated?)", b, e,
                      data_size));
    uint64_t expect = numel * dtype_size(t.dtype);
    if (e - b != expect)
      bad(fmt::format("holds {} bytes but {} {} needs {}", e - b, dtype_name(t.dtype), t.shape_str(), expect));
    t.data = data_start + b;
    t.nbytes = size_t(e - b);
    if (e > b) ranges.push_back({b, e});
    tensors_.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      fail("{}: tensor data regions overlap at byte offset {}", path, ranges[i].first);
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

SafetensorsWriter::SafetensorsWriter(std::string path) : path_(std::move(path)) {}

SafetensorsWriter::~SafetensorsWriter() {
  if (f_) {
    std::fclose(f_);
    std::remove((path_ + ".tmp").c_str());
  }
}

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape) {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) n *= uint64_t(d);
  entries_.push_back({name, dtype, std::move(shape), data_bytes_, data_bytes_ + n});
  data_bytes_ += n;
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

void SafetensorsWriter::begin() {
  json h = json::object();
  if (!metadata_.empty()) h["__metadata__"] = metadata_;
  for (auto& e : entries_)
    h[e.name] = {{"dtype", std::string(dtype_name(e.dtype))}, {"shape", e.shape}, {"data_offsets", {e.begin, e.end}}};
  std::string s = h.dump();
  while ((s.size() + 8) % 8) s.push_back(' ');  // keep the data 8-byte aligned, as HF's writer does
  f_ = std::fopen((path_ + ".tmp").c_str(), "wb");
  if (!f_) fail("{}: cannot create", path_ + ".tmp");
  uint64_t len = s.size();
  if (std::fwrite(&len, 8, 1, f_) != 1 || std::fwrite(s.data(), 1, s.size(), f_) != s.size())
    fail("{}: write failed", path_);
}

void SafetensorsWriter::write(const std::string& name, const void* data, size_t nbytes) {
  if (next_ >= entries_.size() || entries_[next_].name != name)
    fail("SafetensorsWriter({}): tensor '{}' written out of declaration order", path_, name);
  const Entry& e = entries_[next_];
  if (written_ + nbytes > e.end - e.begin)
    fail("SafetensorsWriter({}): tensor '{}' gets more than its declared {} bytes", path_, name, e.end - e.begin);
  if (nbytes && std::fwrite(data, 1, nbytes, f_) != nbytes) fail("{}: write failed (disk full?)", path_);
  written_ += nbytes;
  if (written_ == e.end - e.begin) {
    ++next_;
    written_ = 0;
  }
}

void SafetensorsWriter::finish() {
  while (next_ < entries_.size() && entries_[next_].begin == entries_[next_].end) ++next_;  // empty tensors
  if (next_ != entries_.size()) fail("SafetensorsWriter({}): {} tensors never written", path_, entries_.size() - next_);
  if (std::fflush(f_) != 0 || fsync(fileno(f_)) != 0) fail("{}: flush failed", path_);
  std::fclose(f_);
  f_ = nullptr;
  std::filesystem::rename(path_ + ".tmp", path_);
}

}  // namespace fathom::io
