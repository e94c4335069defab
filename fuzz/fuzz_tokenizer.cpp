// Fuzz target: a tokenizer.json loaded, then text encoded and decoded, and the input's bytes decoded
// as token ids (as /detokenize takes ids from clients).
// Input: tokenizer.json, a 0 byte, the text. With no 0 byte, the whole input is the tokenizer.json
// and is also the text. A hostile tokenizer.json, or an id outside the vocabulary, must end in
// fathom::Error; any text must encode.
#include <cstring>
#include <optional>
#include <vector>

#include "core/error.h"
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fathom::fuzz::as_text(data, size);
  const size_t split = input.rfind('\0');
  const std::string_view json = split == std::string_view::npos ? input : input.substr(0, split);
  const std::string_view text = split == std::string_view::npos ? input : input.substr(split + 1);
  std::optional<fathom::tok::Tokenizer> tok;
  try {
    tok.emplace(fathom::tok::Tokenizer::from_json(json));
  } catch (const fathom::Error&) {
    return 0;
  }
  for (bool special : {false, true}) {
    const std::vector<int32_t> ids = tok->encode(text, special);
    (void)tok->decode(ids, special);
  }
  std::vector<int32_t> raw(text.size() / 4);
  if (!raw.empty()) std::memcpy(raw.data(), text.data(), raw.size() * 4);
  try {
    (void)tok->decode(raw);
  } catch (const fathom::Error&) {
  }
  return 0;
}
