// NumPy .npy files (format version 1.0): the exchange format for logits with reference scripts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fathom::io {

// Writes a little-endian float32 C-order array.
void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape);

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};
// Reads a float32 ('<f4') or float64 ('<f8', converted) C-order array.
NpyArray read_npy_f32(const std::string& path);

}  // namespace fathom::io
