// Filters, tests, methods and global functions. Each keeps @huggingface/jinja's behaviour,
// including where it differs from Python (e.g. `title` only upper-cases word starts, `trim` and
// `strip` use JavaScript's whitespace set, `length` counts UTF-16 units).
#include "chat/jinja_builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <optional>
#include <fmt/format.h>

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
      if (remaining > 0) { out += to; --remaining; }
      out += c;
    }
    if (remaining > 0) out += to;
    return out;
  }
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(from, pos);
    if (hit == std::string::npos || remaining <= 0) break;
    out.append(s, pos, hit - pos);
    out += to;
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

Value items_of(const Value& obj) {
  Array out;
  for (auto& [k, v] : obj.obj->items) out.push_back(Value::array({Value::string(k), v}));
  return Value::array(std::move(out));
}

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
  Array items = *items_of(obj).arr;
  size_t idx = by.s == "key" ? 0 : 1;
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    int r = compare_values((*a.arr)[idx], (*b.arr)[idx], cs.b);
    return reverse.b ? r > 0 : r < 0;
  });
  return Value::array(std::move(items));
}

Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (v.is_attr_container()) {
      const Value* f = v.obj->find(part);
      v = f ? *f : Value();
    } else if (v.is_array()) {
      char* end;
      long k = std::strtol(part.c_str(), &end, 10);
      if (end == part.c_str() || k < 0 || k >= static_cast<long>(v.arr->size())) return Value();
      v = (*v.arr)[k];
    } else {
      return Value();
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return v;
}

std::string indent(const std::string& s, int64_t width, bool first, bool blank) {
  std::string pad(width, ' '), out;
  size_t start = 0, line = 0;
  while (true) {
    size_t nl = s.find('\n', start);
    std::string l = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    bool skip = (!first && line == 0) || (!blank && l.empty());
    out += (line ? "\n" : "") + (skip ? l : pad + l);
    if (nl == std::string::npos) break;
    start = nl + 1;
    ++line;
  }
  return out;
}

// parseInt / parseFloat: a leading number, NaN (-> nullopt) when there is none.
std::optional<double> js_parse(const std::string& s, bool integer) {
  std::string t = js_trim(s, true, false);
  const char* b = t.c_str();
  char* end;
  double v = integer ? static_cast<double>(std::strtoll(b, &end, 10)) : std::strtod(b, &end);
  if (end == b) return std::nullopt;
  return v;
}

Value tojson_filter(const Value& operand, const Args* args) {
  JsonOptions opt;
  if (args) {
    if (auto* v = args->kw.find("indent")) {
      if (v->kind == Kind::Int) opt.indent = static_cast<int>(v->i);
      else if (!v->is_none()) fail("If set, indent must be a number");
    }
    if (auto* v = args->kw.find("ensure_ascii")) {
      if (v->kind != Kind::Bool) fail("If set, ensure_ascii must be a boolean");
      opt.ensure_ascii = v->b;
    }
    if (auto* v = args->kw.find("sort_keys")) {
      if (v->kind != Kind::Bool) fail("If set, sort_keys must be a boolean");
      opt.sort_keys = v->b;
    }
    if (auto* v = args->kw.find("separators"); v && !v->is_none()) {
      if (!v->is_array() || v->arr->size() != 2 || !(*v->arr)[0].is_string() || !(*v->arr)[1].is_string())
        fail("separators must be a tuple of two strings");
      opt.item_sep = (*v->arr)[0].s;
      opt.key_sep = (*v->arr)[1].s;
    }
  }
  return Value::string(to_json(operand, opt));
}

Value unique(const Value& v) {
  Array out;
  for (auto& e : *v.arr) {
    bool seen = false;
    for (auto& o : out) seen = seen || strict_equal(o, e);
    if (!seen) out.push_back(e);
  }
  return Value::array(std::move(out));
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
    if (name == "items") return method([o](auto&) { return items_of(o); });
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

Value apply_filter(const Value& v, const std::string& name, const Args* args) {
  if (!args) {
    if (name == "safe") return v;
    if (name == "tojson") return tojson_filter(v, nullptr);
    if (v.is_array()) {
      if (name == "list") return v;
      if (name == "first") return v.arr->empty() ? Value() : v.arr->front();
      if (name == "last") return v.arr->empty() ? Value() : v.arr->back();
      if (name == "length") return Value::integer(v.arr->size());
      if (name == "reverse") return Value::array(Array(v.arr->rbegin(), v.arr->rend()));
      if (name == "sort") {
        Array a = *v.arr;
        std::stable_sort(a.begin(), a.end(), [](auto& x, auto& y) { return compare_values(x, y, false) < 0; });
        return Value::array(std::move(a));
      }
      if (name == "join") {
        std::string out;
        for (auto& e : *v.arr) out += js_string(e);
        return Value::string(out);
      }
      if (name == "string") return Value::string(to_json(v, {}, false));
      if (name == "unique") return unique(v);
      fail("Unknown ArrayValue filter: {}", name);
    }
    if (v.is_string()) {
      if (name == "length" || name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
        Value m = builtin_member(v, name);
        if (m.kind == Kind::Int) return m;
        std::vector<Value> none;
        Env dummy;
        return (*m.fn)(none, dummy);
      }
      if (name == "trim") return Value::string(js_trim(v.s, true, true));
      if (name == "indent") return Value::string(indent(v.s, 4, false, false));
      if (name == "join" || name == "string") return v;
      if (name == "int") { auto n = js_parse(v.s, true); return Value::integer(n ? static_cast<int64_t>(*n) : 0); }
      if (name == "float") { auto n = js_parse(v.s, false); return Value::number(n ? *n : 0); }
      fail("Unknown StringValue filter: {}", name);
    }
    if (v.is_number()) {
      if (name == "abs") return v.kind == Kind::Int ? Value::integer(std::llabs(v.i)) : Value::number(std::fabs(v.f));
      if (name == "int") return Value::integer(static_cast<int64_t>(std::floor(v.num())));
      if (name == "float") return Value::number(v.num());
      if (name == "string") return Value::string(v.to_string());
      fail("Unknown NumericValue filter: {}", name);
    }
    if (v.is_mapping()) {
      if (name == "items") return items_of(v);
      if (name == "length") return Value::integer(v.obj->items.size());
      Value m = builtin_member(v, name);
      if (m.kind == Kind::Function) {
        std::vector<Value> none;
        Env dummy;
        return (*m.fn)(none, dummy);
      }
      if (!m.is_undefined()) return m;
      fail("Unknown ObjectValue filter: {}", name);
    }
    if (v.kind == Kind::Bool) {
      if (name == "bool") return v;
      if (name == "int") return Value::integer(v.b);
      if (name == "float") return Value::number(v.b);
      if (name == "string") return Value::string(v.b ? "true" : "false");
      fail("Unknown BooleanValue filter: {}", name);
    }
    fail("Cannot apply filter \"{}\" to type: {}", name, v.type_name());
  }

  const Args& a = *args;
  if (name == "tojson") return tojson_filter(v, args);
  if (name == "join") {
    std::vector<std::string> parts;
    if (v.is_string()) parts = code_points(v.s);
    else if (v.is_array()) for (auto& e : *v.arr) parts.push_back(js_string(e));
    else fail("Cannot apply filter \"join\" to type: {}", v.type_name());
    const Value* sep = a.get(0, "separator");
    if (sep && !sep->is_string()) fail("separator must be a string");
    std::string out;
    for (size_t k = 0; k < parts.size(); ++k) out += (k && sep ? sep->s : "") + parts[k];
    return Value::string(out);
  }
  if (name == "int" || name == "float") {
    bool is_int = name == "int";
    const Value* def = a.get(0, "default");
    Value fallback = def ? *def : is_int ? Value::integer(0) : Value::number(0);
    if (v.is_string()) {
      auto n = js_parse(v.s, is_int);
      if (!n) return fallback;
      return is_int ? Value::integer(static_cast<int64_t>(*n)) : Value::number(*n);
    }
    if (v.is_number()) return v;
    if (v.kind == Kind::Bool) return is_int ? Value::integer(v.b) : Value::number(v.b);
    fail("Cannot apply filter \"{}\" to type: {}", name, v.type_name());
  }
  if (name == "default") {
    Value def = a.pos.size() > 0 ? a.pos[0] : Value::string("");
    const Value* flag = a.get(1, "boolean");
    if (flag && flag->kind != Kind::Bool) fail("`default` filter flag must be a boolean");
    bool boolean = flag && flag->b;
    if (v.is_undefined() || (boolean && !v.truthy())) return def;
    return v;
  }
  if (v.is_array()) {
    if (name == "sort") {
      const Value* rev = a.get(0, "reverse");
      const Value* cs = a.get(1, "case_sensitive");
      const Value* attr = a.get(2, "attribute");
      if (rev && rev->kind != Kind::Bool) fail("reverse must be a boolean");
      if (cs && cs->kind != Kind::Bool) fail("case_sensitive must be a boolean");
      std::string path;
      bool by_attr = attr && !attr->is_none();
      if (by_attr) path = attr->kind == Kind::Int ? std::to_string(attr->i) : attr->s;
      Array items = *v.arr;
      std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        int r = by_attr ? compare_values(attribute_path(x, path), attribute_path(y, path), cs && cs->b)
                        : compare_values(x, y, cs && cs->b);
        return rev && rev->b ? r > 0 : r < 0;
      });
      return Value::array(std::move(items));
    }
    if (name == "selectattr" || name == "rejectattr") {
      bool select = name == "selectattr";
      for (auto& e : *v.arr)
        if (!e.is_attr_container()) fail("`{}` can only be applied to array of objects", name);
      for (auto& p : a.pos)
        if (!p.is_string()) fail("arguments of `{}` must be strings", name);
      if (a.pos.empty()) fail("`{}` needs an attribute name", name);
      Array out;
      for (auto& e : *v.arr) {
        const Value* attr = e.obj->find(a.pos[0].s);
        bool result = false;
        if (attr) {  // any present attribute is tested, even a falsy one
          result = a.pos.size() > 1 ? apply_test(a.pos[1].s, *attr, a.pos.size() > 2 ? &a.pos[2] : nullptr)
                                    : attr->truthy();
        }
        if (result == select) out.push_back(e);
      }
      return Value::array(std::move(out));
    }
    if (name == "map") {
      const Value* attr = a.kw.find("attribute");
      if (!attr) fail("`map` expressions without `attribute` set are not currently supported.");
      if (!attr->is_string()) fail("attribute must be a string");
      const Value* def = a.kw.find("default");
      Array out;
      for (auto& e : *v.arr) {
        if (!e.is_attr_container()) fail("items in map must be an object");
        Value x = attribute_path(e, attr->s);
        out.push_back(x.is_undefined() && def ? *def : x);
      }
      return Value::array(std::move(out));
    }
    fail("Unknown ArrayValue filter: {}", name);
  }
  if (v.is_string()) {
    if (name == "indent") {
      const Value* width = a.get(0, "width");
      const Value* first = a.get(1, "first");
      const Value* blank = a.get(2, "blank");
      if (width && width->kind != Kind::Int) fail("width must be a number");
      return Value::string(indent(v.s, width ? width->i : 4, first && first->truthy(), blank && blank->truthy()));
    }
    if (name == "replace") {
      std::vector<Value> call = a.pos;
      call.push_back(Value::object(a.kw, Kind::KwArgs));
      Env dummy;
      return (*builtin_member(v, "replace").fn)(call, dummy);
    }
    fail("Unknown StringValue filter: {}", name);
  }
  if (v.is_mapping()) {
    Value m = builtin_member(v, name);
    if (m.kind == Kind::Function) {
      std::vector<Value> call = a.pos;
      if (!a.kw.items.empty()) call.push_back(Value::object(a.kw, Kind::KwArgs));
      Env dummy;
      return (*m.fn)(call, dummy);
    }
    fail("Unknown ObjectValue filter: {}", name);
  }
  fail("Cannot apply filter \"{}\" to type: {}", name, v.type_name());
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
    for (size_t k = 0; k < args.size(); ++k) msg += (k ? "," : "") + js_string(args[k]);
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
    Array out;
    for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) out.push_back(Value::integer(k));
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
    return Value::object(std::move(entries), Kind::Namespace);
  }));
}

}  // namespace fathom::chat
