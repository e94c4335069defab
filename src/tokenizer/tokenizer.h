// fathom's tokenizer: loads a Hugging Face tokenizer.json (+ tokenizer_config.json beside it) and
// encodes / decodes exactly as the `tokenizers` library does for byte-level BPE models such as
// DeepSeek-V3's. See docs/TOKENIZER.md for what is supported.
//
// Invalid UTF-8 in the input to encode() is not an error: each maximal invalid subsequence is
// replaced by U+FFFD first (the WHATWG rule, what a Python or JavaScript caller of Hugging Face
// would have done converting bytes to a string), then the text is encoded.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fathom::tok {

class Tokenizer {
 public:
  // `path` is a model directory (tokenizer.json, and tokenizer_config.json / chat_template.jinja
  // when present) or a tokenizer.json file.
  static Tokenizer load(const std::filesystem::path& path);
  // From file contents; config_json may be empty.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view config_json = {});

  // add_special: BOS / EOS as tokenizer_config.json asks (add_bos_token, add_eos_token), or the
  // tokenizer.json post-processor's template when there is no config.
  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const;
  // Concatenated token bytes; invalid UTF-8 in the result (a character split across the end, or
  // across skipped tokens) becomes U+FFFD, as in Hugging Face.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // The raw bytes one token stands for (may be part of a UTF-8 character). Throws on a bad id.
  const std::string& token_bytes(int32_t id) const;
  // The token's vocab text (e.g. "Ġworld"), or its content for an added token.
  const std::string& token_text(int32_t id) const;
  int32_t token_to_id(std::string_view token_text) const;  // -1 when unknown
  bool is_special(int32_t id) const;
  bool is_valid_id(int32_t id) const;
  size_t vocab_size() const;  // highest id + 1, added tokens included

  int32_t bos_id() const;  // -1 when the tokenizer has none
  int32_t eos_id() const;
  int32_t pad_id() const;
  const std::string& bos_token() const;  // "" when none
  const std::string& eos_token() const;
  bool add_bos() const;
  bool add_eos() const;

  // The chat template named `name` ("default" or "" for the main one); "" when there is none.
  const std::string& chat_template(std::string_view name = "") const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Turns a stream of ids into text pieces that end on character boundaries, for printing tokens as
// they are generated. The concatenation of everything put() and finish() return equals
// decode(all ids) exactly.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = false)
      : tok_(&tok), skip_special_(skip_special) {}
  std::string put(int32_t id);
  std::string finish();  // flushes an incomplete trailing character as U+FFFD

 private:
  const Tokenizer* tok_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace fathom::tok

namespace fathom {
using tok::StreamDecoder;
using tok::Tokenizer;
}  // namespace fathom
