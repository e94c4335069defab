// The tokenizer a synthesized checkpoint ships with, so that `fathom synth` output can be run and
// chatted with end to end. For the tiny presets: a byte-level BPE in the exact Hugging Face
// tokenizer.json format whose vocabulary fills vocab_size exactly —
//   0 <｜begin▁of▁sentence｜> (BOS), 1 <｜end▁of▁sentence｜> (EOS), 2 <｜▁pad▁｜>,
//   3..258 the 256 byte tokens, then merges learned from a small built-in English text,
//   and last <｜User｜>, <｜Assistant｜>, <think>, </think> —
// the layout of DeepSeek-V3's own tokenizer, with a V3-like chat template that drops reasoning
// (text up to </think>) from earlier assistant turns as R1's template does.
// For the real-shape presets a real tokenizer directory can be copied instead.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace fathom::tok {

// What the tokenizer takes from the model's config.json (so the tokenizer layer needs no model type).
struct SynthTokenizerShape {
  int64_t vocab_size = 0;
  int64_t bos_token_id = 0, eos_token_id = 1;
  int64_t max_position_embeddings = 0;  // tokenizer_config.json's model_max_length
};

struct SynthTokenizer {
  nlohmann::ordered_json tokenizer;  // tokenizer.json
  nlohmann::ordered_json config;     // tokenizer_config.json
};

// Throws when the config's vocab_size / bos / eos do not allow the layout above.
SynthTokenizer synth_tokenizer(const SynthTokenizerShape& c);

// Writes tokenizer.json + tokenizer_config.json into out_dir: copied from copy_from (a directory)
// when given, after checking every token id fits vocab_size; else synthesized when the vocabulary
// is small enough to fill with learned merges (the tiny presets). Returns false when it wrote none.
bool synth_write_tokenizer(const SynthTokenizerShape& c, const std::string& out_dir, const std::string& copy_from);

}  // namespace fathom::tok
