#pragma once
// Byte-level recognizer of the JSON a compiled schema admits (json_schema.h): advance() takes the
// output one byte at a time and fails on the first byte after which no valid document can follow,
// so a prefix it accepts always has a valid completion. UTF-8 is checked byte by byte (overlong
// forms, surrogates and bytes past U+10FFFF fail at the byte that makes them so), and a string's
// pattern sees its characters as they are decoded.
//
// The state is nondeterministic: a set of configurations, each a stack of frames (one per open
// value), since a prefix can be read several ways (anyOf options, enum values, optional
// properties, a number that may or may not go on).
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "generation/json_schema.h"

namespace fathom::gen {

class JsonSchemaMatcher {
 public:
  struct Frame {
    enum class Type : uint8_t { Root, Literal, Key, String, Number, Array, Object, Wrapped };
    Type type = Type::Root;
    uint8_t phase = 0;
    uint8_t ws = 0;                 // whitespace bytes in the current gap
    uint8_t next_lo = 0x80, next_hi = 0xBF;  // String: the range of the next UTF-8 continuation byte
    bool is_key = false;            // String: an object key (of an any-object)
    int32_t node = -1;              // schema node
    int32_t index = 0;              // Literal: which value; Key: which property; Array: items so far;
                                    // Object: the next property that may come; Number: exponent digits
    int32_t offset = 0;             // Literal, Key: bytes matched; String: bytes of the character to
                                    // come; Number: bytes so far; Wrapped: bytes of
                                    // `before` (phase 0) or `after` matched
    uint32_t code = 0;              // String: the character being decoded
    std::string text;               // Number under a range: its text so far
    StringPattern::States pattern;  // String with a pattern: the NFA's states
    auto operator<=>(const Frame&) const = default;
  };
  using Config = std::vector<Frame>;
  struct State {
    std::vector<Config> configs;  // sorted, distinct; empty once the output can no longer be valid
  };

  explicit JsonSchemaMatcher(const CompiledSchema& schema) : s_(schema) {}

  State start() const;
  // False (and the state left empty) when `byte` cannot follow.
  bool advance(State& state, uint8_t byte) const;
  // The same into `to`, leaving `from` as it was (the trie walk branches from one state).
  bool advance(const State& from, uint8_t byte, State& to) const;
  bool advance(State& state, std::string_view bytes) const;
  // True when the output so far is a whole valid document (only whitespace may follow).
  bool is_complete(const State& state) const;
  // True when every reading is inside a string without a pattern, between characters.
  bool in_plain_string(const State& state) const;
  // A byte string equal for equal states: the key of the token-mask cache.
  static std::string key(const State& state);

 private:
  const CompiledSchema& s_;

  void step(Config c, uint8_t byte, std::vector<Config>& out) const;
  void begin(Config c, int32_t node, uint8_t byte, std::vector<Config>& out) const;
  void string_char(Config c, char32_t ch, std::vector<Config>& out) const;
  void key_candidates(Config c, std::vector<Config>& out) const;
  bool pattern_may_take(const Frame& f, char32_t lo, char32_t hi) const;
  bool number_complete(const Frame& f) const;
  static void finish_value(Config& c);
  static void close_value(Config c, std::vector<Config>& out);
};

}  // namespace fathom::gen
