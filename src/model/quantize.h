// fathom quantize: rewrites a checkpoint with block-quantized weights in a compact, memory-mappable
// layout that stays a valid safetensors file:
//   a quantized matrix [rows, cols] is stored as a U8 tensor [rows, row_bytes] under its usual name,
//   and the shard's __metadata__ maps "fathom.quant.<name>" to "<FORMAT>:<rows>x<cols>" (FORMAT is
//   Q8_0 or Q4_0, layouts in src/ops/quant/). config.json gains "fathom_quantization".
// What is quantized: every linear weight of the decoder layers (attention, dense MLP, routed and
// shared experts, MTP eh_proj), embed_tokens and lm_head. What stays as it was: norms, the router
// (mlp.gate.weight) and e_score_correction_bias. FP8 scales are applied before re-quantizing.
// keep_fp8: F8_E4M3 weights travel unchanged with their weight_scale_inv blocks (and config.json
// keeps its quantization_config), so only the checkpoint's other matrices are quantized: the
// result mixes Q8_0/Q4_0, F8_E4M3 and the rest as they were, each run in its own format.
#pragma once
#include <cstdint>
#include <string>

#include "ops/weight.h"

namespace fathom {

enum class QuantType { Q8_0, Q4_0 };

struct QuantizeOptions {
  std::string in_dir, out_dir;
  QuantType type = QuantType::Q8_0;
  bool progress = false;
  bool keep_fp8 = false;
};

// Returns the bytes of tensor data written.
uint64_t quantize_checkpoint(const QuantizeOptions& opt);

// The metadata key and value for a quantized tensor (shared by the writer and the loader).
std::string quant_metadata_key(const std::string& tensor);
// The metadata value's format part ("Q8_0G" / "Q4_0G": block-interleaved groups, ops/quant/block_groups.h).
// The value is "<tag>:<rows>x<cols>". Plain "Q8_0" / "Q4_0" was the earlier, sequential layout.
std::string quant_layout_tag(ops::WFormat f);

}  // namespace fathom
