// The text stages of a Hugging Face tokenizer that run before the BPE model: normalizers (one
// string to another) and pre-tokenizers (a list of pieces to a finer list of pieces), each built
// from its tokenizer.json object. Behaviour mirrors the Rust `tokenizers` crate, stage by stage.
#pragma once
#include <list>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/json.h"
#include <string>
#include <string_view>
#include <vector>

namespace fathom::tok {

// Pieces are views into the caller's text or into `storage` (a list, so views stay valid as it
// grows, and an empty one costs no allocation). Empty pieces are never kept, as in Hugging Face's
// PreTokenizedString.
struct PieceList {
  std::vector<std::string_view> pieces;
  std::list<std::string> storage;
  std::string_view own(std::string s) { return storage.emplace_back(std::move(s)); }
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string apply(std::string_view s) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void apply(PieceList& list) const = 0;
};

// nullptr for a null or empty normalizer / pre-tokenizer (nothing to do). Unsupported types throw
// fathom::Error naming the type, rather than silently tokenizing differently from the reference.
// A malformed object throws fathom::Error naming the file and field.
std::unique_ptr<Normalizer> make_normalizer(const JsonField& j);

struct PreTokenizerInfo {
  std::unique_ptr<PreTokenizer> stage;
  bool byte_level = false;  // a ByteLevel pre-tokenizer ends the chain: the model sees bytes
};
PreTokenizerInfo make_pre_tokenizer(const JsonField& j);
// For a pre-tokenizer object built in code (errors name it as tokenizer.json's "pre_tokenizer").
PreTokenizerInfo make_pre_tokenizer(const nlohmann::json& j);

}  // namespace fathom::tok
