// Filters, tests and the methods of strings / dicts / lists, with @huggingface/jinja's behaviour.
// Internal to the interpreter (jinja_eval.cpp).
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/jinja_value.h"

namespace fathom::chat {

// Variables of one scope. Lookups walk up to the root; `set` writes the innermost scope.
class Env {
 public:
  explicit Env(Env* parent = nullptr) : parent_(parent) {}
  Value lookup(const std::string& name) const;
  void set(const std::string& name, Value v) { vars_[name] = std::move(v); }

 private:
  std::unordered_map<std::string, Value> vars_;
  Env* parent_;
};

struct Args {
  std::vector<Value> pos;
  Object kw;
  const Value* get(size_t i, std::string_view name) const;  // positional i, else keyword name
};

// `obj.name` for a string, list or dict method / property; Undefined when there is none.
Value builtin_member(const Value& obj, const std::string& name);
// [[key, value], ...] of a dict.
Value dict_items(const Value& obj);
// `operand | name` (args == nullptr) or `operand | name(args)` (jinja_filters.cpp).
Value apply_filter(const Value& operand, const std::string& name, const Args* args);
bool apply_test(const std::string& name, const Value& operand, const Value* arg = nullptr);
// Python-style slicing (start / stop / step may be Undefined).
Value slice_value(const Value& v, const Value& start, const Value& stop, const Value& step);
// The global functions: namespace(), range(), raise_exception(), strftime_now().
void define_globals(Env& env);

}  // namespace fathom::chat
