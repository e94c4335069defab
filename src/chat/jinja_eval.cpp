// The tree-walking evaluator. Scoping follows @huggingface/jinja: `for` opens a scope (a `set`
// inside a loop does not leak out; namespace() is the way out), `if` does not, and a macro body
// runs in a scope whose parent is the caller's. Every error is re-thrown once with the line and
// column of the innermost node being evaluated.
#include <cmath>
#include <fmt/format.h>

#include "chat/jinja.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_limits.h"
#include "core/error.h"

namespace fathom::chat {
namespace {

class LocatedError : public Error {
 public:
  using Error::Error;
};
struct BreakSignal {};
struct ContinueSignal {};

// Whether a macro body reads `kwargs` / `varargs` (then extra arguments are collected into them
// instead of being an error).
void find_special(const Node& n, bool& kwargs, bool& varargs) {
  if (n.type == NodeType::Ident) {
    if (n.str == "kwargs") kwargs = true;
    if (n.str == "varargs") varargs = true;
  }
  for (const Node* c : {n.a.get(), n.b.get(), n.c.get()})
    if (c) find_special(*c, kwargs, varargs);
  for (auto& c : n.list) if (c) find_special(*c, kwargs, varargs);
  for (auto& c : n.list2) if (c) find_special(*c, kwargs, varargs);
  for (auto& [k, v] : n.pairs) { find_special(*k, kwargs, varargs); find_special(*v, kwargs, varargs); }
}

class Interpreter {
 public:
  explicit Interpreter(std::string_view source) : source_(source), budget_(RenderBudget::current()) {}

  std::string block(const std::vector<NodePtr>& body, Env& env) {
    std::string out;
    for (auto& st : body) {
      Value v = eval(*st, env);
      if (!v.is_none() && !v.is_undefined()) append_checked(out, v.to_string());
    }
    return out;
  }

  // Every evaluation passes here: the depth and clock are checked on the way in, the size of a
  // string or list result on the way out (what the operators and filters make is bounded there).
  Value eval(const Node& n, Env& env) {
    try {
      budget_.enter();
      struct Leave {
        RenderBudget& b;
        ~Leave() { b.leave(); }
      } leave{budget_};
      Value v = eval_inner(n, env);
      if (v.kind == Kind::String) budget_.check_string(v.s.size());
      else if (v.is_array()) budget_.check_items(v.arr->size());
      return v;
    } catch (const LocatedError&) {
      throw;
    } catch (const std::exception& e) {
      throw LocatedError(fmt::format("chat template {}: {}", line_col(source_, n.pos), e.what()));
    }
  }

 private:
  Value eval_inner(const Node& n, Env& env) {
    switch (n.type) {
      case NodeType::Text: case NodeType::String: return Value::string(n.str);
      case NodeType::Int: return Value::integer(n.ival);
      case NodeType::Float: return Value::number(n.fval);
      case NodeType::Comment: return Value::none();
      case NodeType::Ident: return env.lookup(n.str);
      case NodeType::ArrayLit: case NodeType::TupleLit: {
        Array a;
        for (auto& e : n.list) a.push_back(eval(*e, env));
        return Value::array(std::move(a), n.type == NodeType::TupleLit ? Kind::Tuple : Kind::Array);
      }
      case NodeType::ObjectLit: {
        Object o;
        for (auto& [k, v] : n.pairs) {
          Value key = eval(*k, env);
          if (!key.is_string()) fail("Object keys must be strings: got {}", key.type_name());
          o.set(key.s, eval(*v, env));
        }
        return Value::object(std::move(o));
      }
      case NodeType::Member: return member(n, env);
      case NodeType::Call: {
        std::vector<Value> args = arguments(n.list, env, false);
        Value fn = eval(*n.a, env);
        if (fn.kind != Kind::Function)
          fail("Cannot call something that is not a function: got {}", fn.type_name());
        return (*fn.fn)(args, env);
      }
      case NodeType::Unary: return unary(n, env);
      case NodeType::Binary: return binary(n, env);
      case NodeType::Filter: {
        Value operand = eval(*n.a, env);
        return filter(operand, *n.b, env);
      }
      case NodeType::Test: {
        Value operand = eval(*n.a, env);
        return Value::boolean(apply_test(n.str, operand) != n.flag);
      }
      case NodeType::Select:
        return eval(*n.b, env).truthy() ? eval(*n.a, env) : Value();
      case NodeType::Ternary:
        return eval(*n.a, env).truthy() ? eval(*n.b, env) : eval(*n.c, env);
      case NodeType::If:
        return Value::string(block(eval(*n.a, env).truthy() ? n.list : n.list2, env));
      case NodeType::For: return for_loop(n, env);
      case NodeType::Set: return set(n, env);
      case NodeType::Macro: return macro(n, env);
      case NodeType::CallBlock: return call_block(n, env);
      case NodeType::FilterBlock: return filter(Value::string(block(n.list, env)), *n.a, env);
      case NodeType::Break: throw BreakSignal{};
      case NodeType::Continue: throw ContinueSignal{};
      case NodeType::Slice: case NodeType::KwArg: case NodeType::Spread: case NodeType::KwSpread:
        break;
    }
    fail("unexpected expression here");
  }

  // Evaluated call arguments: positional ones (with *spread), then one KwArgs value when there
  // are keyword arguments (always, if always_kwargs).
  std::vector<Value> arguments(const std::vector<NodePtr>& list, Env& env, bool always_kwargs) {
    std::vector<Value> pos;
    Object kw;
    for (auto& a : list) {
      if (a->type == NodeType::Spread) {
        Value v = eval(*a->a, env);
        if (!v.is_array()) fail("Cannot unpack non-iterable type: {}", v.type_name());
        pos.insert(pos.end(), v.arr->begin(), v.arr->end());
      } else if (a->type != NodeType::KwArg && a->type != NodeType::KwSpread) {
        pos.push_back(eval(*a, env));
      }
    }
    auto add_kw = [&](const std::string& k, Value v) {
      if (kw.find(k)) fail("Got multiple values for keyword argument '{}'", k);
      kw.items.emplace_back(k, std::move(v));
    };
    for (auto& a : list) {
      if (a->type == NodeType::KwArg) {
        add_kw(a->str, eval(*a->a, env));
      } else if (a->type == NodeType::KwSpread) {
        Value v = eval(*a->a, env);
        if (!v.is_mapping()) fail("Argument after ** must be a mapping, not {}", v.type_name());
        for (auto& [k, e] : v.obj->items) add_kw(k, e);
      }
    }
    if (always_kwargs || !kw.items.empty()) pos.push_back(Value::object(std::move(kw), Kind::KwArgs));
    return pos;
  }

  Value filter(const Value& operand, const Node& f, Env& env) {
    if (f.type == NodeType::Ident) return apply_filter(operand, f.str, nullptr);
    if (f.type != NodeType::Call || f.a->type != NodeType::Ident) fail("Unknown filter expression");
    std::vector<Value> evaluated = arguments(f.list, env, false);
    Args args;
    if (!evaluated.empty() && evaluated.back().kind == Kind::KwArgs) {
      args.kw = *evaluated.back().obj;
      evaluated.pop_back();
    }
    args.pos = std::move(evaluated);
    return apply_filter(operand, f.a->str, &args);
  }

  Value member(const Node& n, Env& env) {
    Value obj = eval(*n.a, env);
    Value prop;
    if (n.flag) {
      if (n.b->type == NodeType::Slice) {
        const Node& s = *n.b;
        Value start = s.a ? eval(*s.a, env) : Value(), stop = s.b ? eval(*s.b, env) : Value(),
              step = s.c ? eval(*s.c, env) : Value();
        return slice_value(obj, start, stop, step);
      }
      prop = eval(*n.b, env);
    } else if (n.b->type == NodeType::Int) {
      prop = Value::integer(n.b->ival);
    } else {
      prop = Value::string(n.b->str);
    }
    if (obj.is_attr_container()) {
      if (!prop.is_string()) fail("Cannot access property with non-string: got {}", prop.type_name());
      if (const Value* v = obj.obj->find(prop.s)) return *v;
      return obj.kind == Kind::Namespace ? Value() : builtin_member(obj, prop.s);
    }
    if (obj.is_array() || obj.is_string()) {
      if (prop.kind == Kind::Int) {
        if (obj.is_array()) {
          int64_t len = obj.arr->size(), k = prop.i < 0 ? prop.i + len : prop.i;
          return k >= 0 && k < len ? (*obj.arr)[k] : Value();
        }
        auto cps = code_points(obj.s);
        int64_t len = cps.size(), k = prop.i < 0 ? prop.i + len : prop.i;
        return k >= 0 && k < len ? Value::string(cps[k]) : Value();
      }
      if (prop.is_string()) return builtin_member(obj, prop.s);
      fail("Cannot access property with non-string/non-number: got {}", prop.type_name());
    }
    if (!prop.is_string()) fail("Cannot access property with non-string: got {}", prop.type_name());
    return builtin_member(obj, prop.s);
  }

  Value unary(const Node& n, Env& env) {
    Value v = eval(*n.a, env);
    if (n.str == "not") return Value::boolean(!v.truthy());
    int sign = n.str == "-" ? -1 : 1;
    if (v.kind == Kind::Float) return Value::number(sign * v.f);
    if (v.kind == Kind::Int || v.kind == Kind::Bool) return Value::integer(sign * static_cast<int64_t>(v.num()));
    fail("Unknown operator \"{}\" for {}", n.str, v.type_name());
  }

  Value binary(const Node& n, Env& env) {
    const std::string& op = n.str;
    Value l = eval(*n.a, env);
    if (op == "and") return l.truthy() ? eval(*n.b, env) : l;
    if (op == "or") return l.truthy() ? l : eval(*n.b, env);
    Value r = eval(*n.b, env);
    if (op == "==") return Value::boolean(loose_equal(l, r));
    if (op == "!=") return Value::boolean(!loose_equal(l, r));
    bool in = op == "in", not_in = op == "not in";
    if (l.is_undefined() || r.is_undefined()) {
      if (r.is_undefined() && (in || not_in)) return Value::boolean(not_in);
      fail("Cannot perform operation {} on undefined values", op);
    }
    if (l.is_none() || r.is_none()) fail("Cannot perform operation on null values");
    if (op == "~") return Value::string(js_string(l) + js_string(r));
    auto numeric_like = [](const Value& v) { return v.is_number() || v.kind == Kind::Bool; };
    if (op == "**" && numeric_like(l) && numeric_like(r)) {
      double a = l.num(), b = r.num();
      if (a == 0 && b < 0) fail("0.0 cannot be raised to a negative power");
      double res = std::pow(a, b);
      if (!std::isfinite(res)) fail("Exponentiation result is not a finite real number");
      bool is_float = l.kind == Kind::Float || r.kind == Kind::Float || b < 0;
      return is_float ? Value::number(res) : Value::integer(static_cast<int64_t>(res));
    }
    if (l.is_number() && r.is_number()) {
      bool is_float = l.kind == Kind::Float || r.kind == Kind::Float;
      double a = l.num(), b = r.num();
      auto result = [&](double x) {
        return is_float ? Value::number(x) : Value::integer(static_cast<int64_t>(x));
      };
      if (op == "+") return is_float ? Value::number(a + b) : Value::integer(l.i + r.i);
      if (op == "-") return is_float ? Value::number(a - b) : Value::integer(l.i - r.i);
      if (op == "*") return is_float ? Value::number(a * b) : Value::integer(l.i * r.i);
      if (op == "/") return Value::number(a / b);
      if (op == "//") {
        if (b == 0 && !is_float) fail("integer division by zero");
        return result(std::floor(a / b));
      }
      if (op == "%") {
        if (b == 0 && !is_float) fail("integer modulo by zero");
        return is_float ? Value::number(std::fmod(a, b)) : Value::integer(l.i % r.i);
      }
      if (op == "<") return Value::boolean(a < b);
      if (op == ">") return Value::boolean(a > b);
      if (op == "<=") return Value::boolean(a <= b);
      if (op == ">=") return Value::boolean(a >= b);
    } else if (l.is_array() && r.is_array()) {
      if (op == "+") {
        Array a = *l.arr;
        a.insert(a.end(), r.arr->begin(), r.arr->end());
        return Value::array(std::move(a));
      }
    } else if (r.is_array() && (in || not_in)) {
      bool found = false;
      for (auto& e : *r.arr) found = found || strict_equal(e, l);
      return Value::boolean(found == in);
    }
    if ((l.is_string() || r.is_string()) && op == "+") return Value::string(js_string(l) + js_string(r));
    if (l.is_string() && r.is_string() && (in || not_in))
      return Value::boolean((r.s.find(l.s) != std::string::npos) == in);
    if (l.is_string() && r.is_mapping() && (in || not_in))
      return Value::boolean((r.obj->find(l.s) != nullptr) == in);
    fail("Unknown operator \"{}\" between {} and {}", op, l.type_name(), r.type_name());
  }

  void assign(const Node& target, const Value& v, Env& env, const char* what) {
    if (target.type == NodeType::Ident) { env.set(target.str, v); return; }
    if (target.type != NodeType::TupleLit) fail("Invalid {} target", what);
    if (v.kind != Kind::Array && !(v.kind == Kind::Tuple && std::string_view(what) == "set"))
      fail("Cannot unpack non-iterable type: {}", v.type_name());
    if (v.arr->size() != target.list.size())
      fail("Too {} items to unpack", target.list.size() > v.arr->size() ? "few" : "many");
    for (size_t k = 0; k < target.list.size(); ++k) {
      if (target.list[k]->type != NodeType::Ident) fail("Cannot unpack to a non-identifier");
      env.set(target.list[k]->str, (*v.arr)[k]);
    }
  }

  Value set(const Node& n, Env& env) {
    Value rhs = n.b ? eval(*n.b, env) : Value::string(block(n.list, env));
    const Node& t = *n.a;
    if (t.type == NodeType::Member) {
      Value obj = eval(*t.a, env);
      if (obj.kind != Kind::Namespace) fail("cannot assign attribute on non-namespace object");
      if (t.flag || t.b->type != NodeType::Ident) fail("Cannot assign to member with non-identifier property");
      obj.obj->set(t.b->str, rhs);
    } else {
      assign(t, rhs, env, "set");
    }
    return Value::none();
  }

  Value for_loop(const Node& n, Env& env) {
    Env scope(&env);
    const Node* test = nullptr;
    Value iterable;
    if (n.b->type == NodeType::Select) {
      iterable = eval(*n.b->a, scope);
      test = n.b->b.get();
    } else {
      iterable = eval(*n.b, scope);
    }
    if (iterable.is_mapping()) {
      Array keys;
      for (auto& [k, v] : iterable.obj->items) keys.push_back(Value::string(k));
      iterable = Value::array(std::move(keys));
    } else if (!iterable.is_array()) {
      fail("Expected iterable or object type in for loop: got {}", iterable.type_name());
    }
    Array items;
    for (auto& cur : *iterable.arr) {
      if (test) {
        budget_.count_iteration();
        Env loop_scope(&scope);
        assign(*n.a, cur, loop_scope, "loop");
        if (!eval(*test, loop_scope).truthy()) continue;
      }
      items.push_back(cur);
    }
    std::string out;
    bool no_iteration = true;
    int64_t len = items.size();
    for (int64_t i = 0; i < len; ++i) {
      if (!test) budget_.count_iteration();  // a filtered loop counted its items above
      Object loop;
      loop.items = {{"index", Value::integer(i + 1)}, {"index0", Value::integer(i)},
                    {"revindex", Value::integer(len - i)}, {"revindex0", Value::integer(len - i - 1)},
                    {"first", Value::boolean(i == 0)}, {"last", Value::boolean(i == len - 1)},
                    {"length", Value::integer(len)},
                    {"previtem", i > 0 ? items[i - 1] : Value()},
                    {"nextitem", i < len - 1 ? items[i + 1] : Value()}};
      scope.set("loop", Value::object(std::move(loop)));
      assign(*n.a, items[i], scope, "loop");
      try {
        append_checked(out, block(n.list, scope));
      } catch (const ContinueSignal&) {
        continue;
      } catch (const BreakSignal&) {
        break;
      }
      no_iteration = false;
    }
    if (no_iteration) append_checked(out, block(n.list2, scope));
    return Value::string(out);
  }

  void bind(const std::string& name, const std::vector<NodePtr>& params, bool kwargs_used,
            bool varargs_used, std::vector<Value> args, Env& scope) {
    Object kw;
    if (!args.empty() && args.back().kind == Kind::KwArgs) {
      kw = *args.back().obj;
      args.pop_back();
    }
    std::vector<std::pair<std::string, const Node*>> pending;
    for (size_t k = 0; k < params.size(); ++k) {
      const Node& p = *params[k];
      const std::string& pname = p.str;  // Ident name, or KwArg (name=default) name
      Value v;
      bool have = k < args.size();
      if (have) v = args[k];
      if (!have) {
        for (auto it = kw.items.begin(); it != kw.items.end(); ++it)
          if (it->first == pname) { v = it->second; have = true; kw.items.erase(it); break; }
      }
      if (!have && p.type == NodeType::KwArg) pending.push_back({pname, p.a.get()});
      scope.set(pname, v);
    }
    if (kwargs_used) scope.set("kwargs", Value::object(kw));
    else if (!kw.items.empty()) fail("macro {} takes no keyword argument '{}'", name, kw.items[0].first);
    if (varargs_used) {
      Array rest;
      for (size_t k = params.size(); k < args.size(); ++k) rest.push_back(args[k]);
      scope.set("varargs", Value::array(std::move(rest)));
    } else if (args.size() > params.size()) {
      fail("macro {} takes not more than {} argument(s)", name, params.size());
    }
    for (auto& [pname, def] : pending) scope.set(pname, eval(*def, scope));
  }

  Value macro(const Node& n, Env& env) {
    bool kw = false, va = false;
    find_special(n, kw, va);
    const Node* node = &n;
    env.set(n.str, Value::function([this, node, kw, va](std::vector<Value>& args, Env& caller_env) {
      Env scope(&caller_env);
      bind("'" + node->str + "'", node->list, kw, va, args, scope);
      return Value::string(block(node->list2, scope));
    }));
    return Value::none();
  }

  Value call_block(const Node& n, Env& env) {
    bool kw = false, va = false;
    for (auto& c : n.list2) find_special(*c, kw, va);
    const Node* node = &n;
    Env* defining = &env;
    Value caller = Value::function([this, node, defining, kw, va](std::vector<Value>& args, Env&) {
      Env scope(defining);
      bind("None", node->list, kw, va, args, scope);
      return Value::string(block(node->list2, scope));
    });
    std::vector<Value> args = arguments(n.a->list, env, true);
    Value fn = eval(*n.a->a, env);
    if (fn.kind != Kind::Function)
      fail("Cannot call something that is not a function: got {}", fn.type_name());
    Env call_env(&env);
    call_env.set("caller", caller);
    return (*fn.fn)(args, call_env);
  }

  std::string_view source_;
  RenderBudget& budget_;
};

}  // namespace

Template::Template(std::string source) : source_(std::move(source)) {
  body_ = std::make_shared<std::vector<NodePtr>>(parse(tokenize(source_), source_));
}

std::string Template::render(const std::vector<std::pair<std::string, Value>>& vars, const RenderLimits& limits) const {
  RenderScope scope(limits);
  Env root;
  define_globals(root);
  for (auto& [k, v] : vars) {
    if (!root.lookup(k).is_undefined() && k != "namespace")
      fail("chat template: variable already declared: {}", k);
    root.set(k, v);
  }
  Interpreter interp(source_);
  try {
    return interp.block(*body_, root);
  } catch (const BreakSignal&) {
    fail("chat template: 'break' outside a loop");
  } catch (const ContinueSignal&) {
    fail("chat template: 'continue' outside a loop");
  }
}

}  // namespace fathom::chat
