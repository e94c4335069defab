#pragma once
// A JSON schema compiled for constrained decoding: a tree of nodes (no $ref, so no recursion in the
// schema) that json_schema_matcher.h walks byte by byte. The supported subset:
//   type (one or a list), properties, required, additionalProperties (true or false), items,
//   minItems, maxItems, enum, const, anyOf, pattern (json_schema_pattern.h's subset), minimum,
//   maximum, exclusiveMinimum, exclusiveMaximum; title, description, default, examples, $schema,
//   $id and $comment are read and ignored. Any other keyword is an error that names it and where
//   it is ("properties.age: 'multipleOf' is not supported").
// What is generated is always valid against the schema, and sometimes a subset of what it admits:
//   - object properties come in the schema's order, and no property beyond `properties` is
//     generated, even where additionalProperties allows them ({"type": "object"} alone is any
//     object);
//   - numbers under a range have no exponent; \u escapes never encode a surrogate (characters
//     outside the BMP come as UTF-8);
//   - whitespace between tokens is at most kMaxWhitespace bytes in a row, so a model cannot pad
//     for ever; any JSON value nests at most kMaxAnyDepth deep;
//   - a number is at most kMaxNumberBytes long with an exponent of at most two digits, so it is
//     always a finite double (1e999 would parse as Infinity, which no schema's number admits).
// Besides JSON values, a node may be a value between fixed byte strings (Kind::Wrapped): a tool
// call is its arguments inside the model's tool-call markers (server/tool_calls.h).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "generation/json_schema_number.h"
#include "generation/json_schema_pattern.h"

namespace fathom::gen {

inline constexpr int kMaxWhitespace = 32;
inline constexpr int kMaxAnyDepth = 32;
inline constexpr int kMaxNumberBytes = 40;
// Bounds on a schema, so a hostile one cannot make each step's work (which grows with the readings
// of a prefix: enum values, anyOf options) unbounded.
inline constexpr size_t kMaxSchemaNodes = 10000;
inline constexpr size_t kMaxEnumValues = 1000;

struct SchemaNode {
  enum class Kind : uint8_t { Any, Integer, Number, String, Array, Object, Literals, AnyOf, Wrapped };
  Kind kind = Kind::Any;
  NumberRange range;                      // Integer, Number
  int pattern = -1;                       // String: index into CompiledSchema::patterns, -1 for none
  int items = -1;                         // Array: the items' node
  int64_t min_items = 0, max_items = -1;  // Array: -1 is no maximum
  struct Property {
    std::string key;  // the key as JSON text, quotes included: "\"city\""
    int node = -1;
    bool required = false;
  };
  std::vector<Property> properties;  // Object, in the schema's order; empty with `any_object`
  bool any_object = false;           // Object: any keys and values ({"type": "object"} alone)
  std::vector<std::string> literals;  // Literals: each allowed value as compact JSON text
  std::vector<int> options;           // AnyOf
  std::string before, after;          // Wrapped: the bytes around the value; `after` is not empty
  int wrapped = -1;                   // Wrapped: the value's node
};

struct CompiledSchema {
  std::vector<SchemaNode> nodes;
  std::vector<StringPattern> patterns;
  int root = -1;
  // Whitespace before and after the root value (JSON allows it). Off for wrapped values: a tool
  // call is the whole output, with no text around its markers.
  bool root_whitespace = true;
  // Nodes the matcher needs whatever the schema: any value, any array, any object, and the
  // literals true/false and null.
  int any = -1, any_array = -1, any_object = -1, boolean = -1, null = -1;
};

// Fails (fathom::Error) on what is outside the subset, naming the keyword and its place. Object
// properties are generated in the order the schema's object keeps them (ordered_json: as written).
CompiledSchema compile_json_schema(const nlohmann::ordered_json& schema);
CompiledSchema compile_json_schema(const nlohmann::json& schema);

// One of several values each between fixed byte strings: `before`, a value of `schema`, `after`.
// `where` prefixes the place in errors ("tools[1].function.parameters").
struct WrappedSchema {
  std::string before;
  nlohmann::ordered_json schema;
  std::string after;
  std::string where;
};
CompiledSchema compile_wrapped_schemas(const std::vector<WrappedSchema>& options);
// Any JSON value at the top level is an object: response_format {"type": "json_object"}.
CompiledSchema json_object_schema();

}  // namespace fathom::gen
