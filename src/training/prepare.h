// `fathom prepare`: text files -> token files for `fathom train`.
//
// Output (DATA/):
//   train.bin, val.bin  little-endian uint32 token ids. Each document is encoded as the tokenizer
//                       encodes a prompt (BOS first, as add_bos_token asks) and followed by EOS:
//                       BOS doc EOS BOS doc EOS ...
//   meta.json           {"vocab_size", "eos_id", "bos_id", "tokenizer", "train_tokens",
//                        "val_tokens", "train_documents", "val_documents", "dtype": "uint32"}
//
// Documents: each input file is cut at blank lines (a line that is empty or only whitespace);
// each run of non-blank lines is one document, with its line breaks kept and its trailing newline
// dropped. A file without blank lines is one document.
//
// Validation split: documents are numbered 0, 1, 2, ... across all files in command-line order;
// document i is held out when floor((i + 1) * F) > floor(i * F), i.e. evenly spaced, a fraction F
// of them, spread over the whole corpus rather than taken from its end. Same inputs and tokenizer
// give byte-identical outputs (the encoding runs in parallel but is written in document order).
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace fathom::tok {
class Tokenizer;
}

namespace fathom::train {

struct PrepareOptions {
  double val_fraction = 0.05;
  int threads = 0;  // <= 0: all available cores
  bool progress = false;
};

struct PrepareReport {
  int64_t bytes = 0, train_documents = 0, val_documents = 0, train_tokens = 0, val_tokens = 0;
  int64_t vocab_size = 0;
  double seconds = 0;
};

// Splits text into documents at blank lines (views into text).
std::vector<std::string_view> split_documents(std::string_view text);

// True when document i goes to the validation split.
bool is_validation_document(int64_t i, double val_fraction);

// meta.json's fields for a finished preparation (the ones listed above).
nlohmann::ordered_json prepared_meta(const tok::Tokenizer& tok, const std::filesystem::path& tokenizer_dir,
                                     const PrepareReport& r);

PrepareReport prepare_data(const std::filesystem::path& tokenizer_dir,
                           const std::vector<std::filesystem::path>& files,
                           const std::filesystem::path& out_dir, const PrepareOptions& opts);

}  // namespace fathom::train
