// Value conversions, printing, JSON and comparisons, each matching what @huggingface/jinja does
// with the same data (see jinja_value.h for the notable differences from Python Jinja).
#include "chat/jinja_value.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fmt/format.h>

#include "chat/jinja_limits.h"
#include "core/error.h"
#include "tokenizer/unicode.h"

namespace fathom::chat {

const Value* Object::find(std::string_view key) const {
  for (auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}

void Object::set(const std::string& key, Value v) {
  for (auto& [k, old] : items)
    if (k == key) { old = std::move(v); return; }
  items.emplace_back(key, std::move(v));
}

namespace {

// JavaScript orders an object's integer-like keys ("0", "17") first, ascending, then the rest in
// insertion order; JSON.parse followed by Object.entries therefore reorders them.
bool is_array_index(const std::string& k) {
  if (k.empty() || k.size() > 10 || (k.size() > 1 && k[0] == '0')) return false;
  if (!std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  return std::stoull(k) < 4294967295ull;
}

}  // namespace

void Value::release_nested() {
  // Containers this value alone holds are moved onto a work list; their elements' own containers
  // are moved out before the element dies, so each destructor below finds nothing nested.
  std::vector<std::shared_ptr<Array>> arrays;
  std::vector<std::shared_ptr<Object>> objects;
  auto take = [&](Value& v) {
    if (v.arr && v.arr.use_count() == 1) arrays.push_back(std::move(v.arr));
    if (v.obj && v.obj.use_count() == 1) objects.push_back(std::move(v.obj));
  };
  take(*this);
  while (!arrays.empty() || !objects.empty()) {
    if (!arrays.empty()) {
      std::shared_ptr<Array> a = std::move(arrays.back());
      arrays.pop_back();
      for (auto& e : *a) take(e);
    } else {
      std::shared_ptr<Object> o = std::move(objects.back());
      objects.pop_back();
      for (auto& [k, e] : o->items) take(e);
    }
  }
}

Value Value::from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxValueDepth) fail("template data nested deeper than {} levels", kMaxValueDepth);
  switch (j.type()) {
    case nlohmann::json::value_t::null: return none();
    case nlohmann::json::value_t::boolean: return boolean(j.get<bool>());
    case nlohmann::json::value_t::number_integer: return integer(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: return integer(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::json::value_t::number_float: {
      double d = j.get<double>();  // JSON.parse cannot tell 1.0 from 1
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.007199254740992e15)
        return integer(static_cast<int64_t>(d));
      return number(d);
    }
    case nlohmann::json::value_t::string: return string(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      Array a;
      for (auto& e : j) a.push_back(from_json(e, depth + 1));
      return array(std::move(a));
    }
    case nlohmann::json::value_t::object: {
      Object o, rest;
      std::vector<std::pair<uint64_t, std::string>> index_keys;
      for (auto& [k, v] : j.items()) {
        if (is_array_index(k)) index_keys.push_back({std::stoull(k), k});
        else rest.items.emplace_back(k, from_json(v, depth + 1));
      }
      std::sort(index_keys.begin(), index_keys.end());
      for (auto& [n, k] : index_keys) o.items.emplace_back(k, from_json(j[k], depth + 1));
      for (auto& kv : rest.items) o.items.push_back(std::move(kv));
      return object(std::move(o));
    }
    default:
      fail("unsupported JSON value in template data");
  }
}

bool Value::truthy() const {
  switch (kind) {
    case Kind::Undefined: case Kind::None: return false;
    case Kind::Bool: return b;
    case Kind::Int: return i != 0;
    case Kind::Float: return f != 0 && !std::isnan(f);
    case Kind::String: return !s.empty();
    case Kind::Array: case Kind::Tuple: return !arr->empty();
    case Kind::Object: case Kind::KwArgs: return !obj->items.empty();
    case Kind::Namespace: case Kind::Function: return true;
  }
  return false;
}

std::string js_number(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x == 0) return "0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int n = std::stoi(sci.substr(e + 1)) + 1;  // value = 0.DIGITS * 10^n
  int k = static_cast<int>(digits.size());
  std::string out;
  if (k <= n && n <= 21) out = digits + std::string(n - k, '0');
  else if (0 < n && n <= 21) out = digits.substr(0, n) + "." + digits.substr(n);
  else if (-6 < n && n <= 0) out = "0." + std::string(-n, '0') + digits;
  else {
    out = digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{}", n - 1 >= 0 ? "+" : "-", std::abs(n - 1));
  }
  return neg ? "-" + out : out;
}

std::string Value::to_string() const {
  switch (kind) {
    case Kind::Undefined: return "undefined";
    case Kind::None: return "null";
    case Kind::Bool: return b ? "true" : "false";
    case Kind::Int: return std::to_string(i);
    case Kind::Float:
      if (f == 0 && std::signbit(f)) return "-0.0";
      if (std::isfinite(f) && f == std::floor(f) && std::fabs(f) < 1e21) return fmt::format("{:.1f}", f);
      return js_number(f);
    case Kind::String: return s;
    case Kind::Array: case Kind::Tuple: case Kind::Object: case Kind::KwArgs: case Kind::Namespace:
      return to_json(*this, {}, false);
    case Kind::Function: return "[function]";
  }
  return {};
}

std::string Value::type_name() const {
  switch (kind) {
    case Kind::Undefined: return "UndefinedValue";
    case Kind::None: return "NullValue";
    case Kind::Bool: return "BooleanValue";
    case Kind::Int: return "IntegerValue";
    case Kind::Float: return "FloatValue";
    case Kind::String: return "StringValue";
    case Kind::Array: return "ArrayValue";
    case Kind::Tuple: return "TupleValue";
    case Kind::Object: return "ObjectValue";
    case Kind::KwArgs: return "KeywordArgumentsValue";
    case Kind::Namespace: return "NamespaceValue";
    case Kind::Function: return "FunctionValue";
  }
  return {};
}

namespace {

// JSON.stringify of a string; with ensure_ascii, every UTF-16 unit >= 0x7f becomes \uXXXX.
std::string json_string(std::string_view s, bool ensure_ascii) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) out += fmt::format("\\u{:04x}", c);
          else if (c == 0x7f && ensure_ascii) out += "\\u007f";
          else out += static_cast<char>(c);
      }
      continue;
    }
    size_t start = i;
    int32_t cp = tok::next_code_point(s, i);
    if (!ensure_ascii) { out.append(s.substr(start, i - start)); continue; }
    if (cp < 0) cp = 0xFFFD;
    if (cp < 0x10000) {
      out += fmt::format("\\u{:04x}", cp);
    } else {
      cp -= 0x10000;
      out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
    }
  }
  return out + "\"";
}

// An approximation of String.prototype.localeCompare for sort_keys: letters compare without
// case first (lowercase before uppercase on ties), punctuation before digits before letters.
int locale_compare(const std::string& a, const std::string& b) {
  auto key = [](unsigned char c) {
    int cls = std::isalpha(c) ? 3 : std::isdigit(c) ? 2 : c < 0x80 ? 1 : 4;
    return std::pair<int, int>{cls, std::tolower(c)};
  };
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    auto ka = key(a[i]), kb = key(b[i]);
    if (ka != kb) return ka < kb ? -1 : 1;
  }
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return std::islower(static_cast<unsigned char>(a[i])) ? -1 : 1;
  return 0;
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& opt, bool undefined_as_null, int depth) {
  std::string item_sep = !opt.item_sep.empty() ? opt.item_sep : opt.indent > 0 ? "," : ", ";
  std::string key_sep = !opt.key_sep.empty() ? opt.key_sep : ": ";
  switch (v.kind) {
    case Kind::None: return "null";
    case Kind::Undefined: return undefined_as_null ? "null" : "undefined";
    case Kind::Int: return std::to_string(v.i);
    case Kind::Float: return std::isfinite(v.f) ? js_number(v.f) : "null";
    case Kind::Bool: return v.b ? "true" : "false";
    case Kind::String: return json_string(v.s, opt.ensure_ascii);
    case Kind::Array: case Kind::Tuple: case Kind::Object: case Kind::KwArgs: case Kind::Namespace: {
      // A list that holds itself (l.append(l)) or a value nested by a loop ends here, not in a
      // stack overflow; shared lists repeated make the output grow, which the size check bounds.
      if (depth >= kMaxValueDepth) fail("Cannot convert to JSON: the value nests deeper than {} levels", kMaxValueDepth);
      std::string ind = opt.indent > 0 ? std::string(opt.indent, ' ') : "";
      std::string base = "\n", child;
      for (int d = 0; d < depth; ++d) base += ind;
      child = base + ind;
      std::vector<std::string> parts;
      if (v.is_array()) {
        for (auto& e : *v.arr) parts.push_back(to_json(e, opt, undefined_as_null, depth + 1));
        if (opt.indent > 0 && !parts.empty()) {
          std::string out = "[" + child;
          for (size_t k = 0; k < parts.size(); ++k) append_checked(out, (k ? item_sep + child : "") + parts[k]);
          return out + base + "]";
        }
        std::string out = "[";
        for (size_t k = 0; k < parts.size(); ++k) append_checked(out, (k ? item_sep : "") + parts[k]);
        return out + "]";
      }
      auto items = v.obj->items;
      if (opt.sort_keys)
        std::stable_sort(items.begin(), items.end(),
                         [](auto& x, auto& y) { return locale_compare(x.first, y.first) < 0; });
      for (auto& [k, e] : items) {
        std::string p = json_string(k, opt.ensure_ascii) + key_sep +
                        to_json(e, opt, undefined_as_null, depth + 1);
        parts.push_back(opt.indent > 0 ? child + p : p);
      }
      std::string out = "{";
      for (size_t k = 0; k < parts.size(); ++k) append_checked(out, (k ? item_sep : "") + parts[k]);
      return out + (opt.indent > 0 && !parts.empty() ? base : "") + "}";
    }
    case Kind::Function: break;
  }
  fail("Cannot convert to JSON: {}", v.type_name());
}

std::string js_string(const Value& v) {
  switch (v.kind) {
    case Kind::Int: return std::to_string(v.i);
    case Kind::Float: return js_number(v.f);
    case Kind::Array: case Kind::Tuple: {
      std::string out;
      for (size_t k = 0; k < v.arr->size(); ++k) {
        const Value& e = (*v.arr)[k];
        if (k) append_checked(out, ",");
        if (!e.is_none() && !e.is_undefined()) append_checked(out, e.to_string());
      }
      return out;
    }
    case Kind::Object: case Kind::KwArgs: case Kind::Namespace: return "[object Map]";
    default: return v.to_string();
  }
}

namespace {

// JavaScript's ToNumber for a string: trimmed, "" is 0, anything unparsable is NaN.
double js_to_number(const std::string& s) {
  std::string t = js_trim(s, true, true);
  if (t.empty()) return 0;
  char* end = nullptr;
  double d = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size() ? d : NAN;
}

bool is_primitive_number_like(const Value& v) { return v.is_number() || v.kind == Kind::Bool; }

}  // namespace

bool loose_equal(const Value& a, const Value& b) {
  bool an = a.is_none() || a.is_undefined(), bn = b.is_none() || b.is_undefined();
  if (an || bn) return an && bn;
  if (a.is_string() && b.is_string()) return a.s == b.s;
  if (is_primitive_number_like(a) && is_primitive_number_like(b)) return a.num() == b.num();
  if (a.is_string() && is_primitive_number_like(b)) return js_to_number(a.s) == b.num();
  if (is_primitive_number_like(a) && b.is_string()) return a.num() == js_to_number(b.s);
  if (a.arr && b.arr) return a.arr == b.arr;
  if (a.obj && b.obj) return a.obj == b.obj;
  if (a.fn && b.fn) return a.fn == b.fn;
  return false;
}

bool strict_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.num() == b.num();
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Undefined: case Kind::None: return true;
    case Kind::Bool: return a.b == b.b;
    case Kind::String: return a.s == b.s;
    case Kind::Array: case Kind::Tuple: return a.arr == b.arr;
    case Kind::Function: return a.fn == b.fn;
    default: return a.obj == b.obj;
  }
}

int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_none() && b.is_none()) return 0;
  if (a.is_none() || b.is_none()) fail("Cannot compare {} with {}", a.type_name(), b.type_name());
  if (a.is_undefined() && b.is_undefined()) return 0;
  if (a.is_undefined() || b.is_undefined())
    fail("Cannot compare {} with {}", a.type_name(), b.type_name());
  if (is_primitive_number_like(a) && is_primitive_number_like(b))
    return a.num() < b.num() ? -1 : a.num() > b.num() ? 1 : 0;
  if (a.kind != b.kind) fail("Cannot compare different types: {} and {}", a.type_name(), b.type_name());
  if (a.is_string()) {
    std::string x = case_sensitive ? a.s : tok::to_lower(a.s);
    std::string y = case_sensitive ? b.s : tok::to_lower(b.s);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  fail("Cannot compare type: {}", a.type_name());
}

bool is_js_space(char32_t c) {
  return c == 0x09 || c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D || c == 0x20 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

std::string js_trim(std::string_view s, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e) {
      size_t i = b;
      int32_t c = tok::next_code_point(s, i);
      if (c < 0 || !is_js_space(c)) break;
      b = i;
    }
  }
  if (right) {
    while (e > b) {
      size_t st = e - 1;
      while (st > b && (static_cast<unsigned char>(s[st]) & 0xC0) == 0x80) --st;
      size_t i = st;
      int32_t c = tok::next_code_point(s, i);
      if (c < 0 || !is_js_space(c)) break;
      e = st;
    }
  }
  return std::string(s.substr(b, e - b));
}

size_t utf16_length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    int32_t c = tok::next_code_point(s, i);
    n += c >= 0x10000 ? 2 : 1;
  }
  return n;
}

std::vector<std::string> code_points(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t st = i;
    tok::next_code_point(s, i);
    out.emplace_back(s.substr(st, i - st));
  }
  return out;
}

}  // namespace fathom::chat
