// WeightMatrix: a read-only 2-D weight [rows, cols] (row-major, Hugging Face nn.Linear layout:
// rows = out_features, cols = in_features) in any stored format, usually pointing into an mmap.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace fathom::ops {

// Storage formats. Checkpoint formats come straight from safetensors; quantized formats
// (fathom quantize) are fathom's own block layouts described in ops/quant/.
enum class WFormat : uint8_t {
  F32, F16, BF16,
  F8_E4M3,  // DeepSeek FP8: e4m3 bytes + f32 scale_inv per 128x128 block (it multiplies)
  F8_E5M2,  // plain e5m2 bytes, no scales
  Q8_0,     // fathom 8-bit blocks (see ops/quant)
  Q4_0,     // fathom 4-bit blocks (see ops/quant)
};

struct WeightMatrix {
  WFormat format = WFormat::F32;
  int64_t rows = 0, cols = 0;
  const void* data = nullptr;
  // F8_E4M3 only: scale_inv [ceil(rows/block), ceil(cols/block)], f32.
  const float* scale_inv = nullptr;
  int64_t block_rows = 128, block_cols = 128;

  bool empty() const { return data == nullptr; }
};

// Bytes of one stored row of a matrix with `cols` columns (Q formats pad their last block; see
// ops/quant). Row r starts at data + r * weight_row_bytes(format, cols).
int64_t weight_row_bytes(WFormat format, int64_t cols);

// Writes row r of W as f32 into out[cols]: the reference dequantisation every kernel must match.
void dequant_row(const WeightMatrix& W, int64_t r, float* out);

}  // namespace fathom::ops
