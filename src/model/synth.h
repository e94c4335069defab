// fathom synth: random checkpoints in exactly the Hugging Face layout and naming of the real
// DeepSeek models (config.json, model.safetensors.index.json, sharded safetensors, FP8 weights with
// 128x128 weight_scale_inv blocks where the real checkpoints have them). Written streaming.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace fathom {

enum class SynthDType { F32, BF16, FP8 };

struct SynthOptions {
  std::string preset;
  std::string out_dir;
  SynthDType dtype = SynthDType::BF16;
  int64_t layers = -1;  // override num_hidden_layers (keeps first_k_dense_replace <= layers)
  int64_t nextn = -1;   // override num_nextn_predict_layers (0 drops the MTP module)
  uint64_t seed = 0;
  bool progress = false;  // progress bar on stderr
  // A directory whose tokenizer.json / tokenizer_config.json are copied beside the weights; when
  // empty the tiny presets get a synthesized tokenizer (tokenizer/synth_tokenizer.h).
  std::string tokenizer_dir;
};

// Preset names: tiny-v2-lite, tiny-v2, tiny-v3 (test-sized families), v2-lite, v3 (real shapes).
std::vector<std::string> synth_presets();
ModelConfig synth_preset_config(const std::string& name);  // throws on unknown name

// tok::synth_write_tokenizer for this config's vocabulary and special ids: a tokenizer beside the
// weights in out_dir, copied from copy_from when given. Returns false when it wrote none.
bool synth_write_tokenizer(const ModelConfig& c, const std::string& out_dir, const std::string& copy_from);

// Writes the checkpoint; returns total weight bytes written.
uint64_t synth_write(const SynthOptions& opt);

}  // namespace fathom
