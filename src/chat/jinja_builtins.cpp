// Tests, the methods of strings and dicts, slicing and the global functions, each with
// @huggingface/jinja's behaviour, including where it differs from Python (e.g. `title` only
// upper-cases word starts, `strip` uses JavaScript's whitespace set, `length` counts UTF-16
// units). Filters are in jinja_filters.cpp.
#include "chat/jinja_builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <optional>
#include <fmt/format.h>

#include "chat/jinja_limits.h"
#include "core/error.h"
#include "tokenizer/unicode.h"

namespace fathom::chat {

Value Env::lookup(const std::string& name) const {
  for (const Env* e = this; e; e = e->parent_)
    if (auto it = e->vars_.find(name); it != e->vars_.end()) return it->second;
  return Value();
}

const Value* Args::get(size_t i, std::string_view name) const {
  if (i < pos.size()) return &pos[i];
  return kw.find(name);
}

namespace {

using Fn = std::function<Value(std::vector<Value>&)>;

Value method(Fn f) {
  return Value::function([f = std::move(f)](std::vector<Value>& args, Env&) { return f(args); });
}

bool is_ascii_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string title_case(const std::string& s) {  // /\b\w/g -> upper case
  std::string out = s;
  for (size_t i = 0; i < out.size(); ++i)
    if (is_ascii_word(out[i]) && (i == 0 || !is_ascii_word(out[i - 1])) && out[i] >= 'a' && out[i] <= 'z')
      out[i] -= 32;
  return out;
}

std::string capitalize(const std::string& s) {
  if (s.empty()) return s;
  size_t i = 0;
  tok::next_code_point(s, i);
  return tok::to_upper(s.substr(0, i)) + s.substr(i);
}

// str.replace(old, new, count) as @huggingface/jinja implements it; an empty `old` inserts `new`
// around every character.
std::string replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  if (count == 0) return s;
  int64_t remaining = count < 0 ? INT64_MAX : count;
  std::string out;
  if (from.empty()) {
    for (auto& c : code_points(s)) {
      if (remaining > 0) { append_checked(out, to); --remaining; }
      out += c;
    }
    if (remaining > 0) append_checked(out, to);
    return out;
  }
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(from, pos);
    if (hit == std::string::npos || remaining <= 0) break;
    out.append(s, pos, hit - pos);
    append_checked(out, to);
    pos = hit + from.size();
    --remaining;
  }
  out.append(s, pos);
  return out;
}

Value split(const std::string& s, const std::vector<Value>& args) {
  Value sep = args.size() > 0 ? args[0] : Value::none();
  if (!sep.is_string() && !sep.is_none()) fail("sep argument must be a string or null");
  Value maxsplit = args.size() > 1 ? args[1] : Value::integer(-1);
  if (maxsplit.kind != Kind::Int) fail("maxsplit argument must be a number");
  Array out;
  if (sep.is_none()) {
    std::string text = js_trim(s, true, false);
    size_t i = 0;
    while (i < text.size()) {
      size_t len;
      auto space = [&](size_t at) {
        size_t j = at;
        int32_t c = tok::next_code_point(text, j);
        len = j - at;
        return c >= 0 && is_js_space(c);
      };
      while (i < text.size() && space(i)) i += len;
      if (i >= text.size()) break;
      size_t start = i;
      while (i < text.size() && !space(i)) i += len;
      if (maxsplit.i != -1 && static_cast<int64_t>(out.size()) >= maxsplit.i) {
        out.push_back(Value::string(text.substr(start)));
        break;
      }
      out.push_back(Value::string(text.substr(start, i - start)));
    }
    return Value::array(std::move(out));
  }
  if (sep.s.empty()) fail("empty separator");
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(sep.s, pos);
    if (hit == std::string::npos) { parts.push_back(s.substr(pos)); break; }
    parts.push_back(s.substr(pos, hit - pos));
    pos = hit + sep.s.size();
  }
  if (maxsplit.i != -1 && static_cast<int64_t>(parts.size()) > maxsplit.i) {
    std::string tail;
    for (size_t k = maxsplit.i; k < parts.size(); ++k) tail += (k > size_t(maxsplit.i) ? sep.s : "") + parts[k];
    parts.resize(maxsplit.i);
    parts.push_back(tail);
  }
  for (auto& p : parts) out.push_back(Value::string(p));
  return Value::array(std::move(out));
}

Value affix_test(const std::string& s, const std::vector<Value>& args, bool prefix) {
  const char* name = prefix ? "startswith" : "endswith";
  if (args.empty()) fail("{}() requires at least one argument", name);
  auto match = [&](const std::string& p) {
    return p.size() <= s.size() && (prefix ? s.compare(0, p.size(), p) == 0
                                           : s.compare(s.size() - p.size(), p.size(), p) == 0);
  };
  if (args[0].is_string()) return Value::boolean(match(args[0].s));
  if (args[0].is_array()) {
    for (auto& e : *args[0].arr) {
      if (!e.is_string()) fail("{}() tuple elements must be strings", name);
      if (match(e.s)) return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  fail("{}() argument must be a string or tuple of strings", name);
}

}  // namespace

Value dict_items(const Value& obj) {
  Array out;
  for (auto& [k, v] : obj.obj->items) out.push_back(Value::array({Value::string(k), v}));
  return Value::array(std::move(out));
}

namespace {

Value dictsort(const Value& obj, std::vector<Value>& args) {
  Object kw;
  std::vector<Value> pos;
  for (auto& a : args) {
    if (a.kind == Kind::KwArgs) kw = *a.obj;
    else pos.push_back(a);
  }
  auto pick = [&](size_t i, const char* name, Value def) {
    if (i < pos.size()) return pos[i];
    if (auto* v = kw.find(name)) return *v;
    return def;
  };
  Value cs = pick(0, "case_sensitive", Value::boolean(false));
  Value by = pick(1, "by", Value::string("key"));
  Value reverse = pick(2, "reverse", Value::boolean(false));
  if (cs.kind != Kind::Bool) fail("case_sensitive must be a boolean");
  if (!by.is_string() || (by.s != "key" && by.s != "value")) fail("by must be either 'key' or 'value'");
  if (reverse.kind != Kind::Bool) fail("reverse must be a boolean");
  Array items = *dict_items(obj).arr;
  size_t idx = by.s == "key" ? 0 : 1;
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    int r = compare_values((*a.arr)[idx], (*b.arr)[idx], cs.b);
    return reverse.b ? r > 0 : r < 0;
  });
  return Value::array(std::move(items));
}

}  // namespace

Value builtin_member(const Value& obj, const std::string& name) {
  if (obj.is_string()) {
    const std::string s = obj.s;
    if (name == "length") return Value::integer(utf16_length(s));
    if (name == "upper") return method([s](auto&) { return Value::string(tok::to_upper(s)); });
    if (name == "lower") return method([s](auto&) { return Value::string(tok::to_lower(s)); });
    if (name == "strip") return method([s](auto&) { return Value::string(js_trim(s, true, true)); });
    if (name == "lstrip") return method([s](auto&) { return Value::string(js_trim(s, true, false)); });
    if (name == "rstrip") return method([s](auto&) { return Value::string(js_trim(s, false, true)); });
    if (name == "title") return method([s](auto&) { return Value::string(title_case(s)); });
    if (name == "capitalize") return method([s](auto&) { return Value::string(capitalize(s)); });
    if (name == "startswith") return method([s](auto& a) { return affix_test(s, a, true); });
    if (name == "endswith") return method([s](auto& a) { return affix_test(s, a, false); });
    if (name == "split") return method([s](auto& a) { return split(s, a); });
    if (name == "replace")
      return method([s](std::vector<Value>& a) {
        if (a.size() < 2) fail("replace() requires at least two arguments");
        if (!a[0].is_string() || !a[1].is_string()) fail("replace() arguments must be strings");
        Value count = Value::none();
        if (a.size() > 2) {
          if (a[2].kind == Kind::KwArgs) {
            const Value* c = a[2].obj->find("count");
            count = c ? *c : Value::none();
          } else {
            count = a[2];
          }
        }
        if (count.kind != Kind::Int && !count.is_none()) fail("replace() count argument must be a number or null");
        return Value::string(replace(s, a[0].s, a[1].s, count.is_none() ? -1 : count.i));
      });
    return Value();
  }
  if (obj.is_mapping()) {
    Value o = obj;
    if (name == "get")
      return method([o](auto& a) {
        if (a.empty() || !a[0].is_string())
          fail("Object key must be a string: got {}", a.empty() ? "nothing" : a[0].type_name());
        if (const Value* v = o.obj->find(a[0].s)) return *v;
        return a.size() > 1 ? a[1] : Value::none();
      });
    if (name == "items") return method([o](auto&) { return dict_items(o); });
    if (name == "keys")
      return method([o](auto&) {
        Array out;
        for (auto& [k, v] : o.obj->items) out.push_back(Value::string(k));
        return Value::array(std::move(out));
      });
    if (name == "values")
      return method([o](auto&) {
        Array out;
        for (auto& [k, v] : o.obj->items) out.push_back(v);
        return Value::array(std::move(out));
      });
    if (name == "dictsort") return method([o](auto& a) { return dictsort(o, a); });
    return Value();
  }
  if (obj.is_array() && name == "length") return Value::integer(obj.arr->size());
  return Value();
}

bool apply_test(const std::string& name, const Value& v, const Value* arg) {
  if (name == "boolean") return v.kind == Kind::Bool;
  if (name == "callable") return v.kind == Kind::Function;
  if (name == "odd" || name == "even") {
    if (v.kind != Kind::Int) fail("cannot {} on {}", name, v.type_name());
    return (v.i % 2 != 0) == (name == "odd");
  }
  if (name == "false") return v.kind == Kind::Bool && !v.b;
  if (name == "true") return v.kind == Kind::Bool && v.b;
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind == Kind::Int;
  if (name == "iterable") return v.kind == Kind::Array || v.is_string();
  if (name == "mapping") return v.is_mapping();
  if (name == "sequence") return v.is_array() || v.is_mapping() || v.is_string();
  if (name == "lower") return v.is_string() && v.s == tok::to_lower(v.s);
  if (name == "upper") return v.is_string() && v.s == tok::to_upper(v.s);
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "equalto" || name == "eq") return arg && strict_equal(v, *arg);
  fail("Unknown test: {}", name);
}

Value slice_value(const Value& v, const Value& start, const Value& stop, const Value& step) {
  if (!v.is_array() && !v.is_string()) fail("Slice object must be an array or string");
  for (const Value* p : {&start, &stop, &step})
    if (p->kind != Kind::Int && !p->is_undefined()) fail("Slice indices must be integers or undefined");
  std::vector<std::string> cps;
  int64_t len = v.is_array() ? v.arr->size() : (cps = code_points(v.s)).size();
  int64_t st = step.is_undefined() ? 1 : step.i;
  if (st == 0) fail("slice step cannot be zero");
  int64_t b, e;
  if (st > 0) {
    b = start.is_undefined() ? 0 : start.i < 0 ? std::max<int64_t>(len + start.i, 0) : std::min(start.i, len);
    e = stop.is_undefined() ? len : stop.i < 0 ? std::max<int64_t>(len + stop.i, 0) : std::min(stop.i, len);
  } else {
    b = start.is_undefined() ? len - 1 : start.i < 0 ? std::max<int64_t>(len + start.i, -1) : std::min(start.i, len - 1);
    e = stop.is_undefined() ? -1 : stop.i < -1 ? std::max<int64_t>(len + stop.i, -1) : std::min(stop.i, len - 1);
  }
  Array out;
  std::string s;
  for (int64_t k = b; st > 0 ? k < e : k > e; k += st) {
    if (v.is_array()) out.push_back((*v.arr)[k]);
    else s += cps[k];
  }
  return v.is_array() ? Value::array(std::move(out)) : Value::string(s);
}

void define_globals(Env& env) {
  env.set("false", Value::boolean(false));
  env.set("true", Value::boolean(true));
  env.set("none", Value::none());
  env.set("False", Value::boolean(false));
  env.set("True", Value::boolean(true));
  env.set("None", Value::none());
  env.set("raise_exception", Value::function([](std::vector<Value>& args, Env&) -> Value {
    std::string msg;
    for (size_t k = 0; k < args.size(); ++k) {
      if (k) msg += ',';
      msg += js_string(args[k]);
    }
    fail("raise_exception: {}", msg);
  }));
  env.set("range", Value::function([](std::vector<Value>& args, Env&) {
    std::vector<int64_t> n;
    for (auto& a : args) {
      if (a.kind != Kind::Int) fail("range() arguments must be integers");
      n.push_back(a.i);
    }
    if (n.empty() || n.size() > 3) fail("range() takes 1 to 3 arguments");
    int64_t start = n.size() == 1 ? 0 : n[0], stop = n.size() == 1 ? n[0] : n[1], step = n.size() == 3 ? n[2] : 1;
    if (step == 0) fail("range() step must not be zero");
    // The length first (in wide arithmetic, as range(-2**62, 2**62) overflows int64), so a huge
    // range is refused before anything is allocated.
    const __int128 span = step > 0 ? __int128(stop) - start : __int128(start) - stop;
    const __int128 count = span <= 0 ? 0 : (span + (step > 0 ? step : -__int128(step)) - 1) / (step > 0 ? step : -__int128(step));
    if (count > __int128(RenderBudget::current().limits().max_items))
      fail("range() of more than {} items is over the chat template limit", RenderBudget::current().limits().max_items);
    Array out;
    out.reserve(static_cast<size_t>(count));
    for (int64_t k = 0; k < static_cast<int64_t>(count); ++k) out.push_back(Value::integer(start + k * step));
    return Value::array(std::move(out));
  }));
  env.set("strftime_now", Value::function([](std::vector<Value>& args, Env&) {
    if (args.empty() || !args[0].is_string()) fail("strftime_now() needs a format string");
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[256];
    size_t n = std::strftime(buf, sizeof buf, args[0].s.c_str(), &tm);
    return Value::string(std::string(buf, n));
  }));
  env.set("namespace", Value::function([](std::vector<Value>& args, Env&) {
    Object entries;
    std::vector<Value> pos = args;
    Value kw;
    if (!pos.empty() && pos.back().kind == Kind::KwArgs) { kw = pos.back(); pos.pop_back(); }
    if (pos.size() > 1) fail("namespace expected at most 1 argument, got {}", pos.size());
    if (pos.size() == 1) {
      const Value& src = pos[0];
      if (src.is_mapping()) {
        for (auto& [k, v] : src.obj->items) entries.set(k, v);
      } else if (src.is_array()) {
        for (auto& pair : *src.arr) {
          if (!pair.is_array() || pair.arr->size() != 2 || !(*pair.arr)[0].is_string())
            fail("namespace expected an object or an iterable of [key, value] pairs");
          entries.set((*pair.arr)[0].s, (*pair.arr)[1]);
        }
      } else {
        fail("'{}' object is not iterable", src.type_name());
      }
    }
    if (kw.obj)
      for (auto& [k, v] : kw.obj->items) entries.set(k, v);
    Value ns = Value::object(std::move(entries), Kind::Namespace);
    RenderBudget::current().track_namespace(ns.obj);  // it may come to hold itself
    return ns;
  }));
}

}  // namespace fathom::chat
