#include "generation/json_schema.h"

#include <set>

#include <fmt/format.h>

#include "core/error.h"

namespace fathom::gen {

namespace {

using json = nlohmann::ordered_json;
using Kind = SchemaNode::Kind;

const std::set<std::string, std::less<>> kIgnored{"title", "description", "default", "examples", "$schema", "$id",
                                                  "$comment"};

class Compiler {
 public:
  CompiledSchema out;

  Compiler() {
    out.any = add({});
    SchemaNode b;
    b.kind = Kind::Literals;
    b.literals = {"true", "false"};
    out.boolean = add(std::move(b));
    SchemaNode n;
    n.kind = Kind::Literals;
    n.literals = {"null"};
    out.null = add(std::move(n));
    SchemaNode a;
    a.kind = Kind::Array;
    a.items = out.any;
    out.any_array = add(std::move(a));
    SchemaNode o;
    o.kind = Kind::Object;
    o.any_object = true;
    out.any_object = add(std::move(o));
  }

  int add(SchemaNode n) {
    if (out.nodes.size() >= kMaxSchemaNodes) fail("json schema: more than {} subschemas", kMaxSchemaNodes);
    out.nodes.push_back(std::move(n));
    return int(out.nodes.size() - 1);
  }

  [[noreturn]] static void bad(const std::string& where, std::string_view why) {
    if (where.empty()) fail("json schema: {}", why);
    fail("json schema: {}: {}", where, why);
  }

  static std::string join(const std::string& where, std::string_view key) {
    return where.empty() ? std::string(key) : fmt::format("{}.{}", where, key);
  }

  static int64_t count(const json& s, const char* key, const std::string& where) {
    const json& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) bad(where, fmt::format("'{}' must be a whole number >= 0", key));
    return v.get<int64_t>();
  }

  static std::optional<Decimal> bound(const json& s, const char* key, const std::string& where) {
    if (!s.contains(key)) return std::nullopt;
    const json& v = s[key];
    if (!v.is_number()) bad(where, fmt::format("'{}' must be a number", key));
    // The shortest text that reads back as the double (an integer exactly as written).
    const std::string text = v.is_number_float() ? fmt::format("{}", v.get<double>()) : v.dump();
    return Decimal::parse(text);
  }

  int compile(const json& s, const std::string& where) {
    if (s.is_boolean()) {
      if (!s.get<bool>()) bad(where, "the schema false admits nothing");
      return out.any;
    }
    if (!s.is_object()) bad(where, "a schema must be an object or a boolean");
    static const std::set<std::string, std::less<>> known{
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
        "anyOf", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    for (const auto& [k, v] : s.items())
      if (!known.count(k) && !kIgnored.count(k)) bad(where, fmt::format("'{}' is not supported", k));

    if (s.contains("anyOf")) {
      for (const auto& [k, v] : s.items())
        if (k != "anyOf" && !kIgnored.count(k))
          bad(where, fmt::format("'{}' beside 'anyOf' is not supported (put it inside each option)", k));
      const json& opts = s["anyOf"];
      if (!opts.is_array() || opts.empty()) bad(where, "'anyOf' must be a non-empty array of schemas");
      SchemaNode n;
      n.kind = Kind::AnyOf;
      for (size_t i = 0; i < opts.size(); ++i) n.options.push_back(compile(opts[i], fmt::format("{}[{}]", join(where, "anyOf"), i)));
      return add(std::move(n));
    }
    if (s.contains("enum") || s.contains("const")) return literals(s, where);

    std::vector<std::string> types;
    if (s.contains("type")) {
      const json& t = s["type"];
      if (t.is_string()) types.push_back(t.get<std::string>());
      else if (t.is_array() && !t.empty())
        for (const json& x : t) {
          if (!x.is_string()) bad(where, "'type' must be a string or an array of strings");
          types.push_back(x.get<std::string>());
        }
      else bad(where, "'type' must be a string or an array of strings");
    } else {
      // No type: generate what the keywords describe (a subset of what the schema admits).
      if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties")) types.push_back("object");
      if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) types.push_back("array");
      if (s.contains("pattern")) types.push_back("string");
      if (s.contains("minimum") || s.contains("maximum") || s.contains("exclusiveMinimum") || s.contains("exclusiveMaximum"))
        types.push_back("number");
      if (types.empty()) return out.any;
    }
    if (types.size() == 1) return typed(s, types[0], where);
    SchemaNode n;
    n.kind = Kind::AnyOf;
    for (const std::string& t : types) n.options.push_back(typed(s, t, where));
    return add(std::move(n));
  }

  int typed(const json& s, const std::string& type, const std::string& where) {
    SchemaNode n;
    if (type == "null") return out.null;
    if (type == "boolean") return out.boolean;
    if (type == "integer" || type == "number") {
      n.kind = type == "integer" ? Kind::Integer : Kind::Number;
      const auto lo = bound(s, "minimum", where), hi = bound(s, "maximum", where);
      const auto xlo = bound(s, "exclusiveMinimum", where), xhi = bound(s, "exclusiveMaximum", where);
      if (lo && xlo) bad(where, "both 'minimum' and 'exclusiveMinimum' are given");
      if (hi && xhi) bad(where, "both 'maximum' and 'exclusiveMaximum' are given");
      try {
        if (type == "integer") {
          n.range = integer_range(lo ? lo : xlo, bool(xlo), hi ? hi : xhi, bool(xhi));
        } else {
          n.range.lo = lo ? lo : xlo;
          n.range.lo_exclusive = bool(xlo);
          n.range.hi = hi ? hi : xhi;
          n.range.hi_exclusive = bool(xhi);
        }
      } catch (const Error& e) {
        bad(where, e.what());
      }
      if (!n.range.reachable("")) bad(where, "the number range is empty");
    } else if (type == "string") {
      n.kind = Kind::String;
      if (s.contains("pattern")) {
        if (!s["pattern"].is_string()) bad(where, "'pattern' must be a string");
        try {
          out.patterns.push_back(StringPattern::compile(s["pattern"].get<std::string>()));
        } catch (const Error& e) {
          bad(where, e.what());
        }
        if (out.patterns.back().start().empty()) bad(where, "'pattern' matches no string");
        n.pattern = int(out.patterns.size() - 1);
      }
    } else if (type == "array") {
      n.kind = Kind::Array;
      n.items = s.contains("items") ? compile(s["items"], join(where, "items")) : out.any;
      if (s.contains("minItems")) n.min_items = count(s, "minItems", where);
      if (s.contains("maxItems")) n.max_items = count(s, "maxItems", where);
      if (n.max_items >= 0 && n.max_items < n.min_items) bad(where, "'maxItems' is below 'minItems'");
    } else if (type == "object") {
      n.kind = Kind::Object;
      object(s, where, n);
    } else {
      bad(where, fmt::format("unknown type '{}'", type));
    }
    return add(std::move(n));
  }

  void object(const json& s, const std::string& where, SchemaNode& n) {
    if (s.contains("additionalProperties") && !s["additionalProperties"].is_boolean())
      bad(where, "'additionalProperties' must be true or false (a schema there is not supported)");
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) bad(where, "'required' must be an array of property names");
      for (const json& r : s["required"]) {
        if (!r.is_string()) bad(where, "'required' must be an array of property names");
        required.insert(r.get<std::string>());
      }
    }
    if (!s.contains("properties")) {
      if (!required.empty()) bad(where, "'required' names properties that 'properties' does not define");
      // additionalProperties false with no properties admits only {}.
      n.any_object = !(s.contains("additionalProperties") && !s["additionalProperties"].get<bool>());
      return;
    }
    const json& props = s["properties"];
    if (!props.is_object()) bad(where, "'properties' must be an object");
    for (const auto& [name, sub] : props.items()) {
      SchemaNode::Property p;
      p.key = json(name).dump();
      p.required = required.erase(name) > 0;
      p.node = compile(sub, join(join(where, "properties"), name));
      n.properties.push_back(std::move(p));
    }
    if (!required.empty()) bad(where, fmt::format("'required' names '{}', which 'properties' does not define", *required.begin()));
  }

  int literals(const json& s, const std::string& where) {
    for (const auto& [k, v] : s.items())
      if (k != "enum" && k != "const" && k != "type" && !kIgnored.count(k))
        bad(where, fmt::format("'{}' beside 'enum' or 'const' is not supported", k));
    std::vector<json> values;
    if (s.contains("const")) values.push_back(s["const"]);
    if (s.contains("enum")) {
      if (!s["enum"].is_array() || s["enum"].empty()) bad(where, "'enum' must be a non-empty array");
      if (s.contains("const")) bad(where, "both 'enum' and 'const' are given");
      if (s["enum"].size() > kMaxEnumValues) bad(where, fmt::format("'enum' has more than {} values", kMaxEnumValues));
      values = s["enum"].get<std::vector<json>>();
    }
    std::set<std::string> types;
    if (s.contains("type")) {
      const json& t = s["type"];
      if (t.is_string()) types.insert(t.get<std::string>());
      else if (t.is_array()) for (const json& x : t) types.insert(x.is_string() ? x.get<std::string>() : "");
      else bad(where, "'type' must be a string or an array of strings");
    }
    auto type_of = [](const json& v) -> std::set<std::string> {
      if (v.is_null()) return {"null"};
      if (v.is_boolean()) return {"boolean"};
      if (v.is_number_integer() || (v.is_number_float() && v.get<double>() == double(int64_t(v.get<double>()))))
        return {"integer", "number"};
      if (v.is_number()) return {"number"};
      if (v.is_string()) return {"string"};
      if (v.is_array()) return {"array"};
      return {"object"};
    };
    SchemaNode n;
    n.kind = Kind::Literals;
    for (const json& v : values) {
      bool ok = types.empty();
      for (const std::string& t : type_of(v)) ok = ok || types.count(t);
      if (ok) n.literals.push_back(v.dump());
    }
    if (n.literals.empty()) bad(where, "no value of 'enum' / 'const' has the schema's 'type'");
    return add(std::move(n));
  }
};

}  // namespace

CompiledSchema compile_json_schema(const nlohmann::ordered_json& schema) {
  Compiler c;
  c.out.root = c.compile(schema, "");
  return std::move(c.out);
}

CompiledSchema compile_json_schema(const nlohmann::json& schema) { return compile_json_schema(json(schema)); }

CompiledSchema compile_wrapped_schemas(const std::vector<WrappedSchema>& options) {
  if (options.empty()) fail("json schema: no value to wrap");
  Compiler c;
  SchemaNode any;
  any.kind = Kind::AnyOf;
  for (const WrappedSchema& o : options) {
    if (o.after.empty()) fail("json schema: {}: a wrapped value needs bytes after it", o.where);
    const int value = c.compile(o.schema, o.where);
    SchemaNode n;
    n.kind = Kind::Wrapped;
    n.before.assign(o.before);
    n.after.assign(o.after);
    n.wrapped = value;
    any.options.push_back(c.add(std::move(n)));
  }
  c.out.root = any.options.size() == 1 ? any.options[0] : c.add(std::move(any));
  c.out.root_whitespace = false;
  return std::move(c.out);
}

CompiledSchema json_object_schema() {
  Compiler c;
  c.out.root = c.out.any_object;
  return std::move(c.out);
}

}  // namespace fathom::gen
