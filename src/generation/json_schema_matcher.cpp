#include "generation/json_schema_matcher.h"

#include <algorithm>

namespace fathom::gen {

namespace {

using Frame = JsonSchemaMatcher::Frame;
using Type = Frame::Type;
using Kind = SchemaNode::Kind;

// Phases of Root, Array, Object and Wrapped frames.
enum : uint8_t {
  kBefore = 0,     // Root: before the value; Array, Object: just after the opening bracket;
                   // Wrapped: in its `before` bytes
  kAfterValue,     // after a value (Object: after a property's value; Wrapped: in its `after` bytes)
  kAfterComma,     // Array, Object: after ','
  kAfterKey,       // Object: after a key, before ':'
  kAfterColon,     // Object: after ':'; Wrapped: inside the value
};
// Phases of a String frame.
enum : uint8_t { kBody = 0, kEscape, kHex, kUtf8 };
// Phases of a Number frame (JSON's number grammar).
enum : uint8_t { kStart = 0, kMinus, kZero, kInt, kDot, kFrac, kE, kESign, kExp };

bool is_ws(uint8_t b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

// Counts a whitespace byte of the current gap; false past the cap.
bool take_ws(Frame& f) {
  if (f.ws >= kMaxWhitespace) return false;
  ++f.ws;
  return true;
}

int hex_value(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

}  // namespace

JsonSchemaMatcher::State JsonSchemaMatcher::start() const {
  Frame root;
  root.type = Type::Root;
  root.node = s_.root;
  return State{{Config{root}}};
}

void JsonSchemaMatcher::finish_value(Config& c) {
  Frame& p = c.back();
  p.ws = 0;
  if (p.type == Type::Array) ++p.index;
  p.phase = kAfterValue;
}

// The value on top of `c` is whole: it goes, and its parent moves past it.
void JsonSchemaMatcher::close_value(Config c, std::vector<Config>& out) {
  c.pop_back();
  finish_value(c);
  out.push_back(std::move(c));
}

bool JsonSchemaMatcher::number_complete(const Frame& f) const {
  if (f.phase != kZero && f.phase != kInt && f.phase != kFrac && f.phase != kExp) return false;
  if (f.node < 0) return true;
  const NumberRange& r = s_.nodes[size_t(f.node)].range;
  return r.empty() || r.contains(f.text);
}

bool JsonSchemaMatcher::pattern_may_take(const Frame& f, char32_t lo, char32_t hi) const {
  if (f.node < 0 || s_.nodes[size_t(f.node)].pattern < 0) return true;
  const StringPattern& p = s_.patterns[size_t(s_.nodes[size_t(f.node)].pattern)];
  // Surrogates are never characters of the string.
  if (lo < 0xD800 && p.can_step(f.pattern, lo, std::min<char32_t>(hi, 0xD7FF))) return true;
  return hi > 0xDFFF && p.can_step(f.pattern, std::max<char32_t>(lo, 0xE000), hi);
}

// A whole character of a string's body.
void JsonSchemaMatcher::string_char(Config c, char32_t ch, std::vector<Config>& out) const {
  Frame& f = c.back();
  f.phase = kBody;
  f.code = 0;  // between characters the state is the same whatever came before
  if (f.node >= 0 && s_.nodes[size_t(f.node)].pattern >= 0) {
    f.pattern = s_.patterns[size_t(s_.nodes[size_t(f.node)].pattern)].step(f.pattern, ch);
    if (f.pattern.empty()) return;
  }
  out.push_back(std::move(c));
}

// After the '"' that opens a key: one configuration per property that may come next (any optional
// ones up to and including the first required one).
void JsonSchemaMatcher::key_candidates(Config c, std::vector<Config>& out) const {
  const Frame obj = c.back();
  const SchemaNode& n = s_.nodes[size_t(obj.node)];
  if (n.any_object) {
    Frame key;
    key.type = Type::String;
    key.is_key = true;
    c.push_back(key);
    out.push_back(std::move(c));
    return;
  }
  for (size_t j = size_t(obj.index); j < n.properties.size(); ++j) {
    Config k = c;
    Frame key;
    key.type = Type::Key;
    key.node = obj.node;
    key.index = int32_t(j);
    key.offset = 1;
    k.push_back(key);
    out.push_back(std::move(k));
    if (n.properties[j].required) break;
  }
}

// The first byte of a value of `node`, whose parent is on top of `c`.
void JsonSchemaMatcher::begin(Config c, int32_t node, uint8_t byte, std::vector<Config>& out) const {
  const SchemaNode& n = s_.nodes[size_t(node)];
  Frame f;
  f.node = node;
  switch (n.kind) {
    case Kind::Any: {
      // Nesting of unconstrained containers is bounded, so the state stays bounded.
      const auto any_depth = std::count_if(c.begin(), c.end(), [&](const Frame& x) {
        return (x.type == Type::Array && s_.nodes[size_t(x.node)].items == s_.any) ||
               (x.type == Type::Object && s_.nodes[size_t(x.node)].any_object);
      });
      if ((byte == '[' || byte == '{') && any_depth >= kMaxAnyDepth) return;
      if (byte == '[') {
        f.type = Type::Array;
        f.node = s_.any_array;
      } else if (byte == '{') {
        f.type = Type::Object;
        f.node = s_.any_object;
      } else if (byte == '"') {
        f.type = Type::String;
        f.node = -1;
      } else if (byte == '-' || is_digit(byte)) {
        f.type = Type::Number;
        f.node = -1;
        c.push_back(f);
        step(std::move(c), byte, out);
        return;
      } else if (byte == 't' || byte == 'f') {
        begin(std::move(c), s_.boolean, byte, out);
        return;
      } else if (byte == 'n') {
        begin(std::move(c), s_.null, byte, out);
        return;
      } else {
        return;
      }
      c.push_back(f);
      out.push_back(std::move(c));
      return;
    }
    case Kind::AnyOf:
      for (int32_t o : n.options) begin(c, o, byte, out);
      return;
    case Kind::Literals:
      for (size_t i = 0; i < n.literals.size(); ++i) {
        if (uint8_t(n.literals[i][0]) != byte) continue;
        Config k = c;
        f.type = Type::Literal;
        f.index = int32_t(i);
        f.offset = 0;
        k.push_back(f);
        step(std::move(k), byte, out);
      }
      return;
    case Kind::Integer:
    case Kind::Number:
      f.type = Type::Number;
      c.push_back(f);
      step(std::move(c), byte, out);
      return;
    case Kind::String:
      if (byte != '"') return;
      f.type = Type::String;
      if (n.pattern >= 0) f.pattern = s_.patterns[size_t(n.pattern)].start();
      break;
    case Kind::Array:
      if (byte != '[') return;
      f.type = Type::Array;
      break;
    case Kind::Object:
      if (byte != '{') return;
      f.type = Type::Object;
      break;
    case Kind::Wrapped:
      f.type = Type::Wrapped;
      c.push_back(f);
      step(std::move(c), byte, out);
      return;
  }
  c.push_back(f);
  out.push_back(std::move(c));
}

void JsonSchemaMatcher::step(Config c, uint8_t byte, std::vector<Config>& out) const {
  Frame& f = c.back();
  switch (f.type) {
    case Type::Root:
      if (is_ws(byte)) {
        if (s_.root_whitespace && take_ws(f)) out.push_back(std::move(c));
      } else if (f.phase == kBefore) {
        f.ws = 0;
        begin(std::move(c), f.node, byte, out);
      }
      return;

    case Type::Wrapped: {
      const SchemaNode& n = s_.nodes[size_t(f.node)];
      if (f.phase == kBefore) {
        if (size_t(f.offset) == n.before.size()) {  // `before` is whole: this byte starts the value
          f.phase = kAfterColon;
          f.offset = 0;
          begin(std::move(c), n.wrapped, byte, out);
          return;
        }
        if (uint8_t(n.before[size_t(f.offset)]) != byte) return;
        ++f.offset;
        out.push_back(std::move(c));
        return;
      }
      // After the value (finish_value set kAfterValue): the bytes of `after`, then the parent's.
      if (size_t(f.offset) >= n.after.size() || uint8_t(n.after[size_t(f.offset)]) != byte) return;
      if (size_t(++f.offset) == n.after.size()) {
        c.pop_back();
        finish_value(c);
      }
      out.push_back(std::move(c));
      return;
    }

    case Type::Literal:
    case Type::Key: {
      const std::string& lit = f.type == Type::Literal ? s_.nodes[size_t(f.node)].literals[size_t(f.index)]
                                                       : s_.nodes[size_t(f.node)].properties[size_t(f.index)].key;
      if (size_t(f.offset) == lit.size()) {  // a number literal, ended by this byte
        c.pop_back();
        finish_value(c);
        step(std::move(c), byte, out);
        return;
      }
      if (uint8_t(lit[size_t(f.offset)]) != byte) return;
      ++f.offset;
      if (size_t(f.offset) == lit.size()) {
        if (f.type == Type::Key) {
          const int32_t next = f.index + 1;
          c.pop_back();
          c.back().phase = kAfterKey;
          c.back().index = next;
          c.back().ws = 0;
        } else if (!is_digit(byte)) {  // a number could go on: it ends at the next byte
          c.pop_back();
          finish_value(c);
        }
      }
      out.push_back(std::move(c));
      return;
    }

    case Type::String:
      switch (f.phase) {
        case kBody:
          if (byte == '"') {
            if (f.node >= 0 && s_.nodes[size_t(f.node)].pattern >= 0 &&
                !s_.patterns[size_t(s_.nodes[size_t(f.node)].pattern)].accepts(f.pattern))
              return;
            const bool key = f.is_key;
            c.pop_back();
            if (key) {
              c.back().phase = kAfterKey;
              c.back().ws = 0;
            } else {
              finish_value(c);
            }
            out.push_back(std::move(c));
          } else if (byte == '\\') {
            // Every escape stands for a character of the BMP (\uXXXX for any of them).
            if (!pattern_may_take(f, 0, 0xFFFF)) return;
            f.phase = kEscape;
            out.push_back(std::move(c));
          } else if (byte < 0x20) {
            return;  // control characters must be escaped
          } else if (byte < 0x80) {
            string_char(std::move(c), byte, out);
          } else {
            // The lead byte of a multi-byte character: how many continuation bytes follow, the
            // range of the first (which rules out overlong forms, surrogates and > U+10FFFF), and
            // the characters it can still become.
            int more;
            uint8_t lo = 0x80, hi = 0xBF;
            char32_t min_cp, max_cp;
            if (byte >= 0xC2 && byte <= 0xDF) more = 1, min_cp = 0x80, max_cp = 0x7FF;
            else if (byte >= 0xE0 && byte <= 0xEF) more = 2, min_cp = 0x800, max_cp = 0xFFFF;
            else if (byte >= 0xF0 && byte <= 0xF4) more = 3, min_cp = 0x10000, max_cp = 0x10FFFF;
            else return;
            if (byte == 0xE0) lo = 0xA0;
            if (byte == 0xED) hi = 0x9F;
            if (byte == 0xF0) lo = 0x90;
            if (byte == 0xF4) hi = 0x8F;
            f.code = byte & (0x3F >> more);
            const char32_t from = std::max<char32_t>(min_cp, f.code << (6 * more));
            const char32_t to = std::min<char32_t>(max_cp, ((f.code + 1) << (6 * more)) - 1);
            if (!pattern_may_take(f, from, to)) return;
            f.phase = kUtf8;
            f.offset = more;
            f.next_lo = lo;
            f.next_hi = hi;
            out.push_back(std::move(c));
          }
          return;
        case kUtf8: {
          if (byte < f.next_lo || byte > f.next_hi) return;
          f.code = (f.code << 6) | (byte & 0x3F);
          f.next_lo = 0x80;
          f.next_hi = 0xBF;
          if (--f.offset == 0) {
            string_char(std::move(c), f.code, out);
            return;
          }
          const char32_t from = f.code << (6 * f.offset), to = ((f.code + 1) << (6 * f.offset)) - 1;
          if (!pattern_may_take(f, from, std::min<char32_t>(to, 0x10FFFF))) return;
          out.push_back(std::move(c));
          return;
        }
        case kEscape: {
          static const std::string_view from = "\"\\/bfnrt", to = "\"\\/\b\f\n\r\t";
          if (byte == 'u') {
            if (!pattern_may_take(f, 0, 0xFFFF)) return;
            f.phase = kHex;
            f.offset = 4;
            f.code = 0;
            out.push_back(std::move(c));
            return;
          }
          const size_t i = from.find(char(byte));
          if (i == std::string_view::npos) return;
          string_char(std::move(c), char32_t(uint8_t(to[i])), out);
          return;
        }
        case kHex: {
          const int v = hex_value(byte);
          if (v < 0) return;
          f.code = f.code * 16 + uint32_t(v);
          if (--f.offset == 0) {
            if (f.code >= 0xD800 && f.code <= 0xDFFF) return;  // no surrogate escapes
            string_char(std::move(c), f.code, out);
            return;
          }
          const char32_t from = f.code << (4 * f.offset), to = ((f.code + 1) << (4 * f.offset)) - 1;
          if (from >= 0xD800 && to <= 0xDFFF) return;  // only surrogates left
          if (!pattern_may_take(f, from, to)) return;
          out.push_back(std::move(c));
          return;
        }
      }
      return;

    case Type::Number: {
      const bool ranged = f.node >= 0 && !s_.nodes[size_t(f.node)].range.empty();
      const bool integer = f.node >= 0 && s_.nodes[size_t(f.node)].kind == Kind::Integer;
      int next = -1;
      switch (f.phase) {
        case kStart: next = byte == '-' ? kMinus : byte == '0' ? kZero : is_digit(byte) ? kInt : -1; break;
        case kMinus: next = byte == '0' ? kZero : is_digit(byte) ? kInt : -1; break;
        case kZero:
        case kInt:
          if (is_digit(byte) && f.phase == kInt) next = kInt;
          else if (byte == '.' && !integer) next = kDot;
          else if ((byte == 'e' || byte == 'E') && !integer && !ranged) next = kE;
          break;
        case kDot: next = is_digit(byte) ? kFrac : -1; break;
        case kFrac:
          if (is_digit(byte)) next = kFrac;
          else if ((byte == 'e' || byte == 'E') && !ranged) next = kE;
          break;
        case kE: next = byte == '+' || byte == '-' ? kESign : is_digit(byte) ? kExp : -1; break;
        case kESign:
        case kExp: next = is_digit(byte) ? kExp : -1; break;
      }
      // Bounded length and exponent: the number stays a finite double.
      if (f.offset >= kMaxNumberBytes || (next == kExp && f.phase == kExp && f.index >= 2)) next = -1;
      if (next >= 0) {
        Config go = c;
        Frame& g = go.back();
        g.index = next == kExp ? g.index + 1 : g.index;  // exponent digits
        ++g.offset;
        g.phase = uint8_t(next);
        if (ranged) g.text += char(byte);
        if (!ranged || s_.nodes[size_t(f.node)].range.reachable(g.text)) out.push_back(std::move(go));
      }
      // Or the number ended before this byte, which then belongs to the parent.
      if (number_complete(f)) {
        c.pop_back();
        finish_value(c);
        step(std::move(c), byte, out);
      }
      return;
    }

    case Type::Array: {
      const SchemaNode& n = s_.nodes[size_t(f.node)];
      if (is_ws(byte)) {
        if (take_ws(f)) out.push_back(std::move(c));
        return;
      }
      f.ws = 0;
      const bool room = n.max_items < 0 || f.index < n.max_items;
      if (f.phase == kAfterValue) {
        if (byte == ',' && room) {
          f.phase = kAfterComma;
          out.push_back(std::move(c));
        } else if (byte == ']' && f.index >= n.min_items) {
          close_value(std::move(c), out);
        }
        return;
      }
      if (f.phase == kBefore && byte == ']') {
        if (n.min_items == 0) {
          close_value(std::move(c), out);
        }
        return;
      }
      if (room) begin(std::move(c), n.items, byte, out);
      return;
    }

    case Type::Object: {
      const SchemaNode& n = s_.nodes[size_t(f.node)];
      if (is_ws(byte)) {
        if (take_ws(f)) out.push_back(std::move(c));
        return;
      }
      f.ws = 0;
      // Whether all the required properties have come (schema order: none at or after `index`).
      bool required_left = false;
      for (size_t j = size_t(f.index); j < n.properties.size(); ++j) required_left |= n.properties[j].required;
      const bool more = n.any_object || size_t(f.index) < n.properties.size();
      switch (f.phase) {
        case kBefore:
        case kAfterComma:
          if (byte == '"' && more) key_candidates(std::move(c), out);
          else if (byte == '}' && f.phase == kBefore && !required_left) {
            close_value(std::move(c), out);
          }
          return;
        case kAfterKey:
          if (byte == ':') {
            f.phase = kAfterColon;
            out.push_back(std::move(c));
          }
          return;
        case kAfterColon:
          begin(std::move(c), n.any_object ? s_.any : n.properties[size_t(f.index - 1)].node, byte, out);
          return;
        case kAfterValue:
          if (byte == ',' && more) {
            f.phase = kAfterComma;
            out.push_back(std::move(c));
          } else if (byte == '}' && !required_left) {
            close_value(std::move(c), out);
          }
          return;
      }
      return;
    }
  }
}

bool JsonSchemaMatcher::advance(const State& from, uint8_t byte, State& to) const {
  std::vector<Config> out;
  for (const Config& c : from.configs) step(c, byte, out);
  if (out.size() > 1) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  to.configs = std::move(out);
  return !to.configs.empty();
}

bool JsonSchemaMatcher::advance(State& state, uint8_t byte) const { return advance(state, byte, state); }

bool JsonSchemaMatcher::advance(State& state, std::string_view bytes) const {
  for (char b : bytes)
    if (!advance(state, uint8_t(b))) return false;
  return true;
}

bool JsonSchemaMatcher::is_complete(const State& state) const {
  for (Config c : state.configs) {
    // A number (or number literal) at the very end is complete without a byte after it.
    while (c.size() > 1) {
      const Frame& f = c.back();
      const bool done_literal = f.type == Type::Literal &&
                                size_t(f.offset) == s_.nodes[size_t(f.node)].literals[size_t(f.index)].size();
      if (!done_literal && !(f.type == Type::Number && number_complete(f))) break;
      c.pop_back();
      finish_value(c);
    }
    if (c.size() == 1 && c[0].phase == kAfterValue) return true;
  }
  return false;
}

bool JsonSchemaMatcher::in_plain_string(const State& state) const {
  for (const Config& c : state.configs) {
    const Frame& f = c.back();
    if (f.type != Type::String || f.phase != kBody || (f.node >= 0 && s_.nodes[size_t(f.node)].pattern >= 0))
      return false;
  }
  return !state.configs.empty();
}

std::string JsonSchemaMatcher::key(const State& state) {
  std::string k;
  auto put = [&](const void* p, size_t n) { k.append(static_cast<const char*>(p), n); };
  for (const Config& c : state.configs) {
    const uint32_t depth = uint32_t(c.size());
    put(&depth, sizeof depth);
    for (const Frame& f : c) {
      const uint8_t small[6] = {uint8_t(f.type), f.phase, f.ws, f.next_lo, f.next_hi, uint8_t(f.is_key)};
      put(small, sizeof small);
      const int32_t ints[4] = {f.node, f.index, f.offset, int32_t(f.code)};
      put(ints, sizeof ints);
      const uint32_t tn = uint32_t(f.text.size()), pn = uint32_t(f.pattern.size());
      put(&tn, sizeof tn);
      k += f.text;
      put(&pn, sizeof pn);
      put(f.pattern.data(), pn * sizeof(int32_t));
    }
  }
  return k;
}

}  // namespace fathom::gen
