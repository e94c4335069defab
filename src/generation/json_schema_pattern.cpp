#include "generation/json_schema_pattern.h"

#include <algorithm>

#include "core/error.h"

namespace fathom::gen {

namespace {

using Ranges = std::vector<std::pair<char32_t, char32_t>>;
constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr int kMaxRepeat = 1000;
constexpr size_t kMaxStates = 100000;

Ranges complement(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  char32_t next = 0;
  for (auto [lo, hi] : r) {
    if (lo > next) out.push_back({next, lo - 1});
    if (hi + 1 > next) next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
  return out;
}

const Ranges kDigit{{'0', '9'}};
const Ranges kWord{{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
// ECMAScript's WhiteSpace and LineTerminator.
const Ranges kSpace{{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029},
                    {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
const Ranges kDot = complement({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}});

struct Re {
  enum class Kind { Chars, Concat, Alt, Repeat } kind = Kind::Concat;
  Ranges chars;
  std::vector<Re> kids;
  int min = 0, max = 0;  // Repeat: max -1 is unbounded
};

Re of(Re::Kind kind) {
  Re r;
  r.kind = kind;
  return r;
}

// Recursive descent over the pattern's code points.
class Parser {
 public:
  explicit Parser(std::string_view src) : src_(src) {
    for (size_t i = 0; i < src.size();) {
      const auto c = static_cast<unsigned char>(src[i]);
      const int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      if (i + n > src.size() || (c >= 0x80 && c < 0xC0)) bad("is not valid UTF-8");
      char32_t cp = n == 1 ? c : c & (0x7F >> n);
      for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(src[i + k]) & 0x3F);
      cps_.push_back(cp);
      i += n;
    }
  }

  Re parse(bool& anchored_start, bool& anchored_end) {
    anchored_start = !cps_.empty() && cps_[0] == '^';
    if (anchored_start) pos_ = 1;
    size_t end = cps_.size();
    anchored_end = end > pos_ && cps_[end - 1] == '$' && (end < 2 || cps_[end - 2] != '\\');
    if (anchored_end) cps_.pop_back();
    Re r = alternation();
    if (pos_ != cps_.size()) bad("has an unmatched ')'");
    return r;
  }

 private:
  std::string_view src_;
  std::vector<char32_t> cps_;
  size_t pos_ = 0;

  [[noreturn]] void bad(std::string_view why) const { fail("'pattern' \"{}\" {}", src_, why); }
  bool more() const { return pos_ < cps_.size(); }
  char32_t peek() const { return cps_[pos_]; }

  Re alternation() {
    Re alt = of(Re::Kind::Alt);
    alt.kids.push_back(concatenation());
    while (more() && peek() == '|') {
      ++pos_;
      alt.kids.push_back(concatenation());
    }
    return alt.kids.size() == 1 ? std::move(alt.kids[0]) : alt;
  }

  Re concatenation() {
    Re cat = of(Re::Kind::Concat);
    while (more() && peek() != '|' && peek() != ')') cat.kids.push_back(repetition());
    return cat;
  }

  int number() {
    int n = 0;
    bool any = false;
    while (more() && peek() >= '0' && peek() <= '9') {
      n = n * 10 + int(peek() - '0');
      any = true;
      ++pos_;
      if (n > kMaxRepeat) bad(fmt::format("repeats more than {} times", kMaxRepeat));
    }
    if (!any) bad("has a '{' that is not a repetition {n}, {n,} or {n,m}");
    return n;
  }

  Re repetition() {
    Re atom_re = atom();
    while (more()) {
      int lo, hi;
      const char32_t c = peek();
      if (c == '*') lo = 0, hi = -1, ++pos_;
      else if (c == '+') lo = 1, hi = -1, ++pos_;
      else if (c == '?') lo = 0, hi = 1, ++pos_;
      else if (c == '{') {
        ++pos_;
        lo = hi = number();
        if (more() && peek() == ',') {
          ++pos_;
          hi = more() && peek() == '}' ? -1 : number();
        }
        if (!more() || peek() != '}') bad("has a '{' that is not a repetition {n}, {n,} or {n,m}");
        ++pos_;
        if (hi != -1 && hi < lo) bad("has a repetition {n,m} with m < n");
      } else {
        break;
      }
      if (more() && peek() == '?') ++pos_;  // lazy: the same strings
      Re rep = of(Re::Kind::Repeat);
      rep.min = lo;
      rep.max = hi;
      rep.kids.push_back(std::move(atom_re));
      atom_re = std::move(rep);
    }
    return atom_re;
  }

  Re chars(Ranges r) {
    Re re = of(Re::Kind::Chars);
    re.chars = std::move(r);
    return re;
  }

  Re atom() {
    const char32_t c = cps_[pos_++];
    switch (c) {
      case '(': {
        if (more() && peek() == '?') {
          if (pos_ + 1 < cps_.size() && cps_[pos_ + 1] == ':') pos_ += 2;
          else bad("has a lookaround or named group '(?', which is not supported");
        }
        Re inner = alternation();
        if (!more() || peek() != ')') bad("has an unclosed '('");
        ++pos_;
        return inner;
      }
      case '[': return chars(char_class());
      case '.': return chars(kDot);
      case '\\': return chars(escape(false));
      case '^': bad("has '^' other than at the start, which is not supported");
      case '$': bad("has '$' other than at the end, which is not supported");
      case '*': case '+': case '?': case '{': bad("repeats nothing");
      case ')': bad("has an unmatched ')'");
      case '}': case ']': bad(fmt::format("has an unescaped '{}'", char(c)));
      default: return chars({{c, c}});
    }
  }

  char32_t hex(int digits) {
    char32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      if (!more() || !std::isxdigit(static_cast<int>(peek() < 0x80 ? peek() : 0))) bad("has a bad \\x or \\u escape");
      const char32_t h = peek();
      v = v * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
      ++pos_;
    }
    return v;
  }

  // After a backslash; `in_class` allows \- (and \b would be backspace, which is left out).
  Ranges escape(bool in_class) {
    if (!more()) bad("ends with a lone backslash");
    const char32_t c = cps_[pos_++];
    auto one = [](char32_t x) { return Ranges{{x, x}}; };
    switch (c) {
      case 'd': return kDigit;
      case 'D': return complement(kDigit);
      case 'w': return kWord;
      case 'W': return complement(kWord);
      case 's': return kSpace;
      case 'S': return complement(kSpace);
      case 't': return one('\t');
      case 'n': return one('\n');
      case 'r': return one('\r');
      case 'f': return one('\f');
      case 'v': return one('\v');
      case '0': return one(0);
      case 'x': return one(hex(2));
      case 'u': return one(hex(4));
      default:
        if (c < 0x80 && std::string_view("^$\\.*+?()[]{}|/").find(char(c)) != std::string_view::npos) return one(c);
        if (in_class && c == '-') return one(c);
        if (c < 0x80) bad(fmt::format("has the escape \\{}, which is not supported", char(c)));
        bad("has a backslash before a non-ASCII character");
    }
  }

  Ranges char_class() {
    bool negate = more() && peek() == '^';
    if (negate) ++pos_;
    Ranges set;
    for (;;) {
      if (!more()) bad("has an unclosed '['");
      if (peek() == ']') {
        ++pos_;
        break;
      }
      auto item = [&]() -> Ranges {
        const char32_t c = cps_[pos_++];
        return c == '\\' ? escape(true) : Ranges{{c, c}};
      };
      Ranges first = item();
      if (more() && peek() == '-' && pos_ + 1 < cps_.size() && cps_[pos_ + 1] != ']') {
        ++pos_;
        Ranges last = item();
        if (first.size() != 1 || last.size() != 1 || first[0].first != first[0].second ||
            last[0].first != last[0].second)
          bad("has a class range with a class (\\d, \\w, \\s) at one end");
        if (last[0].first < first[0].first) bad("has a class range out of order");
        set.push_back({first[0].first, last[0].first});
      } else {
        set.insert(set.end(), first.begin(), first.end());
      }
    }
    return negate ? complement(set) : set;
  }
};

}  // namespace

class PatternBuilder {
 public:
  explicit PatternBuilder(StringPattern& p) : p_(p) {}

  int32_t add(StringPattern::State s) {
    if (p_.states_.size() >= kMaxStates) fail("'pattern' \"{}\" is too large", p_.source_);
    p_.states_.push_back(std::move(s));
    return int32_t(p_.states_.size() - 1);
  }

  // The states for `r`, entered at the returned state and leaving to `next`.
  int32_t emit(const Re& r, int32_t next) {
    switch (r.kind) {
      case Re::Kind::Chars: return add({r.chars, next, {}});
      case Re::Kind::Concat:
        for (auto it = r.kids.rbegin(); it != r.kids.rend(); ++it) next = emit(*it, next);
        return next;
      case Re::Kind::Alt: {
        std::vector<int32_t> entries;
        for (const Re& k : r.kids) entries.push_back(emit(k, next));
        return add({{}, -1, entries});
      }
      case Re::Kind::Repeat: {
        int32_t entry = next;
        if (r.max == -1) {
          const int32_t loop = add({});
          const int32_t body = emit(r.kids[0], loop);
          p_.states_[size_t(loop)].eps = {body, next};
          entry = loop;
        } else {
          for (int i = r.min; i < r.max; ++i) {
            const int32_t body = emit(r.kids[0], entry);
            entry = add({{}, -1, {body, next}});
          }
        }
        for (int i = 0; i < r.min; ++i) entry = emit(r.kids[0], entry);
        return entry;
      }
    }
    return next;
  }

 private:
  StringPattern& p_;
};

StringPattern StringPattern::compile(std::string_view pattern) {
  StringPattern p;
  p.source_ = std::string(pattern);
  bool anchored_start = false, anchored_end = false;
  const Re re = Parser(pattern).parse(anchored_start, anchored_end);
  PatternBuilder b(p);
  p.match_ = b.add({});
  const Re anything{Re::Kind::Repeat, {}, {Re{Re::Kind::Chars, {{0, kMaxCodePoint}}, {}, 0, 0}}, 0, -1};
  int32_t next = p.match_;
  if (!anchored_end) next = b.emit(anything, next);
  next = b.emit(re, next);
  if (!anchored_start) next = b.emit(anything, next);

  // live_: the states from which the match can still be reached.
  std::vector<std::vector<int32_t>> into(p.states_.size());
  for (size_t s = 0; s < p.states_.size(); ++s) {
    if (p.states_[s].next >= 0) into[size_t(p.states_[s].next)].push_back(int32_t(s));
    for (int32_t e : p.states_[s].eps) into[size_t(e)].push_back(int32_t(s));
  }
  p.live_.assign(p.states_.size(), false);
  std::vector<int32_t> todo{p.match_};
  p.live_[size_t(p.match_)] = true;
  while (!todo.empty()) {
    const int32_t s = todo.back();
    todo.pop_back();
    for (int32_t from : into[size_t(s)])
      if (!p.live_[size_t(from)]) p.live_[size_t(from)] = true, todo.push_back(from);
  }
  p.start_ = p.closure({next});
  return p;
}

StringPattern::States StringPattern::closure(std::vector<int32_t> seeds) const {
  States out;
  std::vector<bool> seen(states_.size(), false);
  while (!seeds.empty()) {
    const int32_t s = seeds.back();
    seeds.pop_back();
    if (seen[size_t(s)] || !live_[size_t(s)]) continue;
    seen[size_t(s)] = true;
    const State& st = states_[size_t(s)];
    if (st.next >= 0 || s == match_) out.push_back(s);
    seeds.insert(seeds.end(), st.eps.begin(), st.eps.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

StringPattern::States StringPattern::step(const States& from, char32_t c) const {
  std::vector<int32_t> seeds;
  for (int32_t s : from)
    for (auto [lo, hi] : states_[size_t(s)].ranges)
      if (c >= lo && c <= hi) {
        seeds.push_back(states_[size_t(s)].next);
        break;
      }
  return closure(std::move(seeds));
}

bool StringPattern::can_step(const States& from, char32_t lo, char32_t hi) const {
  for (int32_t s : from)
    for (auto [a, b] : states_[size_t(s)].ranges)
      if (a <= hi && lo <= b) return true;  // every state held is live, so is where it leads
  return false;
}

bool StringPattern::accepts(const States& s) const { return std::binary_search(s.begin(), s.end(), match_); }

}  // namespace fathom::gen
