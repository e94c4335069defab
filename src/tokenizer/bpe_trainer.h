// Byte-level BPE training (`fathom train-tokenizer`). Text is pre-tokenized with DeepSeek-V3's
// pre-tokenizer (the same Split regexes, run by fathom's own tokenizer pipeline, so training and
// encoding cut text identically), pre-tokens are counted, and the most frequent adjacent symbol pair
// is merged until the vocabulary is full. The result is a Hugging Face tokenizer.json (model type
// BPE over GPT-2's byte-to-character map, merges in rank order) and a tokenizer_config.json that
// the `tokenizers` library and fathom::Tokenizer load to the same ids.
//
// Vocabulary layout (vocab_size = N):
//   0 <｜begin▁of▁sentence｜>, 1 <｜end▁of▁sentence｜>, 2 <｜▁pad▁｜>   special, also in model.vocab
//   3 .. 258     the 256 byte characters, sorted by code point (as Hugging Face and DeepSeek do)
//   259 .. N-3   merged tokens, in merge order
//   N-2, N-1     <｜User｜>, <｜Assistant｜>   added tokens (not special) for the chat template
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fathom::tok {

struct BpeTrainOptions {
  int64_t vocab_size = 8192;  // total, special and added tokens included
  int64_t min_frequency = 2;  // a pair seen fewer times is never merged
  bool progress = false;      // progress lines on stderr
  // Longest run of digits in one pre-token: DeepSeek-V3 splits numbers into groups of up to 3;
  // 1 keeps every digit its own token, which digit-by-digit arithmetic needs (models/reasoner).
  int digits_per_token = 3;
};

// Counts pre-tokens (raw byte strings) of texts; feed it every training document.
class PreTokenCounter {
 public:
  explicit PreTokenCounter(int digits_per_token = 3);
  ~PreTokenCounter();
  void add_text(std::string_view text);
  // Pre-tokens and their counts, sorted by text (a deterministic order for training).
  std::vector<std::pair<std::string, int64_t>> sorted_counts() const;
  int64_t total_pre_tokens() const { return total_; }

 private:
  struct Impl;
  Impl* impl_;
  int64_t total_ = 0;
};

struct BpeModel {
  std::vector<std::string> tokens;  // model.vocab in id order (byte-level text, e.g. "Ġthe")
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
};

// Learns merges from pre-token counts. Ties between equally frequent pairs go to the pair whose
// (left id, right id) is smallest, so the result depends only on the counts.
BpeModel train_bpe(const std::vector<std::pair<std::string, int64_t>>& words,
                   const BpeTrainOptions& opts);

// The DeepSeek-V3 pre_tokenizer object of tokenizer.json (digits_per_token: see BpeTrainOptions).
nlohmann::ordered_json deepseek_pre_tokenizer_json(int digits_per_token = 3);
nlohmann::ordered_json tokenizer_json(const BpeModel& model, int digits_per_token = 3);
nlohmann::ordered_json tokenizer_config_json();

// The whole command: reads files, trains, writes DIR/tokenizer.json and DIR/tokenizer_config.json.
struct TrainTokenizerReport {
  int64_t bytes = 0, pre_tokens = 0, unique_pre_tokens = 0, merges = 0, vocab_size = 0;
  double seconds = 0;
};
TrainTokenizerReport train_tokenizer(const std::vector<std::filesystem::path>& files,
                                     const std::filesystem::path& out_dir,
                                     const BpeTrainOptions& opts);

}  // namespace fathom::tok
