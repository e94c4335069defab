// Reading JSON that comes from outside (model files, request bodies) without trusting it.
//
// parse_json() is the one way text becomes a JSON value in fathom: nesting deeper than
// kMaxJsonDepth and a key repeated within one object are errors, and every error is a
// fathom::Error that names the source and, where it can, the field ("config.json: 'rope_scaling':
// ..."), never nlohmann's raw "[json.exception...]" text or an unbounded excerpt of the input.
// Bounding the depth here is what keeps every recursive walk of a parsed value (dump, copy, the
// chat template's conversion) within the stack.
//
// JsonField checks a parsed value against the schema its reader expects, one field at a time, with
// the same kind of message: "tokenizer.json: 'model.vocab': must be an object (got an array)".
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"

namespace fathom {

// What parse_json throws; `field` is the path of the member at fault ("tools[0].function"), empty
// for a syntax error or when the problem is the whole document.
class JsonError : public Error {
 public:
  JsonError(const std::string& what, std::string field) : Error(what), field(std::move(field)) {}
  std::string field;
};

// Deep enough for any real file or request (a JSON schema of tool parameters nests a few dozen
// levels at most); shallow enough that recursion over a value stays far inside a thread's stack.
inline constexpr int kMaxJsonDepth = 128;

// `source` names the input in errors: a file path, or "the request body".
nlohmann::json parse_json(std::string_view text, std::string_view source);
nlohmann::ordered_json parse_ordered_json(std::string_view text, std::string_view source);
// Reads a whole file and parses it; a missing file, a directory or a read error name the path.
nlohmann::json read_json_file(const std::string& path);
// Reads a whole file as bytes, with the path in every error (including a directory given as a file).
std::string read_text_file(const std::string& path);

// A short human description of a value for error messages: scalars as JSON (long strings cut),
// containers by kind and size ("an array of 3", "an object").
std::string describe_json(const nlohmann::json& j);
std::string describe_json(const nlohmann::ordered_json& j);

// A value inside a parsed document together with where it is, for checked access. Views are
// cheap (a pointer, the source name and the path) and never outlive the document.
class JsonField {
 public:
  JsonField(const nlohmann::json& j, std::string source, std::string path = "")
      : j_(&j), source_(std::move(source)), path_(std::move(path)) {}

  const nlohmann::json& json() const { return *j_; }
  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }

  bool is_null() const { return j_->is_null(); }
  // Present and not null (this must be an object).
  bool has(std::string_view key) const;
  // The member (null when absent); fails unless this is an object.
  JsonField operator[](std::string_view key) const;
  // The member, which must be present and not null.
  JsonField required(std::string_view key) const;
  JsonField at(size_t i) const;  // an array element (fails unless this is an array)
  size_t size() const;           // of an array or object (fails otherwise)

  const JsonField& expect_object() const;
  const JsonField& expect_array() const;
  std::string str() const;
  bool boolean() const;
  double number() const;                           // finite
  int64_t integer(int64_t lo, int64_t hi) const;   // exactly an integer in [lo, hi]

  // Optional members with a default when absent or null.
  std::string str_or(std::string_view key, std::string fallback) const;
  bool bool_or(std::string_view key, bool fallback) const;

  // "SOURCE: 'PATH': WHY" (or "SOURCE: WHY" at the top level).
  [[noreturn]] void fail(std::string_view why) const;

 private:
  std::string child_path(std::string_view key) const;
  const nlohmann::json* j_;
  std::string source_, path_;
};

}  // namespace fathom
