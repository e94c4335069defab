// Values of fathom's Jinja interpreter. The semantics follow @huggingface/jinja (the reference the
// tests compare against), which differs from Python Jinja in places a chat template can see:
// booleans print as "true"/"false", numbers follow JavaScript (1.0 is an integer once it comes
// from JSON), == is JavaScript's loose equality, and lists / dicts are compared by identity.
// Lists, dicts and namespaces are reference types (shared), like in both references.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace fathom::chat {

struct Value;
class Env;
using Array = std::vector<Value>;
// Insertion-ordered; chat messages have a handful of keys, so lookup is a linear scan.
struct Object {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);
};
// A callable: positional arguments, then (optionally, last) a KwArgs value.
using Function = std::function<Value(std::vector<Value>& args, Env& env)>;

enum class Kind { Undefined, None, Bool, Int, Float, String, Array, Tuple, Object, Namespace, KwArgs, Function };

struct Value {
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<Array> arr;        // Array, Tuple
  std::shared_ptr<Object> obj;       // Object, Namespace, KwArgs
  std::shared_ptr<Function> fn;

  Value() = default;
  Value(const Value&) = default;
  Value(Value&&) noexcept = default;
  Value& operator=(const Value&) = default;
  Value& operator=(Value&&) noexcept = default;
  // Releases nested lists and dicts without recursion: a template can nest a value as deeply
  // as its loops allow, and a recursive release of that would overflow the stack.
  ~Value() {
    if ((arr && arr.use_count() == 1) || (obj && obj.use_count() == 1)) release_nested();
  }

  static Value none() { Value v; v.kind = Kind::None; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::Bool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::Int; v.i = x; return v; }
  static Value number(double x) { Value v; v.kind = Kind::Float; v.f = x; return v; }
  static Value string(std::string x) { Value v; v.kind = Kind::String; v.s = std::move(x); return v; }
  static Value array(Array a = {}, Kind k = Kind::Array) {
    Value v; v.kind = k; v.arr = std::make_shared<Array>(std::move(a)); return v;
  }
  static Value object(Object o = {}, Kind k = Kind::Object) {
    Value v; v.kind = k; v.obj = std::make_shared<Object>(std::move(o)); return v;
  }
  static Value function(Function f) {
    Value v; v.kind = Kind::Function; v.fn = std::make_shared<Function>(std::move(f)); return v;
  }
  // Fails past kMaxValueDepth levels (parse_json already bounds what comes from outside).
  static Value from_json(const nlohmann::ordered_json& j, int depth = 0);

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float; }
  bool is_array() const { return kind == Kind::Array || kind == Kind::Tuple; }
  bool is_mapping() const { return kind == Kind::Object || kind == Kind::KwArgs; }
  bool is_attr_container() const { return is_mapping() || kind == Kind::Namespace; }
  double num() const { return kind == Kind::Int ? static_cast<double>(i) : kind == Kind::Bool ? b : f; }

  bool truthy() const;
  std::string to_string() const;     // as {{ value }} prints it
  std::string type_name() const;     // for error messages, e.g. "StringValue"

 private:
  void release_nested();
};

struct JsonOptions {
  int indent = -1;  // < 0: single line
  bool ensure_ascii = false;
  bool sort_keys = false;
  std::string item_sep, key_sep;  // empty: ", " / ": " (or "," when indented)
};
std::string to_json(const Value& v, const JsonOptions& opt = {}, bool undefined_as_null = true,
                    int depth = 0);

// JavaScript's Number.prototype.toString (shortest round trip), used for float output.
std::string js_number(double x);
// JavaScript's String(value.value): what `~` and string `+` see.
std::string js_string(const Value& v);
// JavaScript's loose == on the values, and strict === (for `in`).
bool loose_equal(const Value& a, const Value& b);
bool strict_equal(const Value& a, const Value& b);
// Ordering for sort / dictsort; throws on values that cannot be compared.
int compare_values(const Value& a, const Value& b, bool case_sensitive);

// String helpers with JavaScript semantics (whitespace set of /\s/, UTF-16 length).
bool is_js_space(char32_t c);
std::string js_trim(std::string_view s, bool left, bool right);
size_t utf16_length(std::string_view s);
std::vector<std::string> code_points(std::string_view s);

}  // namespace fathom::chat
