// Filters (`value | name` and `value | name(args)`), as @huggingface/jinja applies them: which
// filters exist depends on the operand's type, and an unknown pairing is an error.
#include <algorithm>
#include <cmath>
#include <optional>

#include "chat/jinja_builtins.h"
#include "chat/jinja_limits.h"
#include "core/error.h"

namespace fathom::chat {
namespace {

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
  if (width < 0) fail("indent width must not be negative");
  RenderBudget::current().check_string(static_cast<size_t>(width));
  std::string pad(width, ' '), out;
  size_t start = 0, line = 0;
  while (true) {
    size_t nl = s.find('\n', start);
    std::string l = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    bool skip = (!first && line == 0) || (!blank && l.empty());
    if (line) append_checked(out, "\n");
    if (!skip) append_checked(out, pad);
    append_checked(out, l);
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
      if (v->kind == Kind::Int && (v->i < -1024 || v->i > 1024)) fail("indent must be at most 1024");
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
      if (name == "items") return dict_items(v);
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
    for (size_t k = 0; k < parts.size(); ++k) append_checked(out, (k && sep ? sep->s : "") + parts[k]);
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

}  // namespace fathom::chat
