#pragma once
// The string `pattern`s of a JSON schema, as an NFA over the string's characters (code points, after
// JSON escapes are decoded) that the matcher steps once per character. The subset (ECMAScript
// semantics, as validators such as ajv use):
//   literal characters; `.` (any but \n \r U+2028 U+2029); classes [a-z_] and [^...]; escapes
//   \d \D \w \W \s \S, \t \n \r \f \v \0, \uXXXX, \xXX and escaped punctuation (\. \- \\ ...);
//   groups ( ) and (?: ); alternation |; quantifiers * + ? {n} {n,} {n,m} (n, m <= 1000) and their
//   lazy forms; ^ at the very start and $ at the very end.
// Without ^ (or $) the pattern may match anywhere, as in JSON Schema: the string may have anything
// before (after) the match. Anything else (backreferences, lookaround, \b, ^ or $ elsewhere) is an
// error naming it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fathom::gen {

class StringPattern {
 public:
  using States = std::vector<int32_t>;  // a set of NFA states, sorted

  static StringPattern compile(std::string_view pattern);

  const States& start() const { return start_; }
  // The states after one more character; empty when no match can follow any more.
  States step(const States& from, char32_t c) const;
  // True when some character in [lo, hi] can come next.
  bool can_step(const States& from, char32_t lo, char32_t hi) const;
  // True when the string may end here.
  bool accepts(const States& s) const;
  const std::string& source() const { return source_; }

 private:
  struct State {
    std::vector<std::pair<char32_t, char32_t>> ranges;  // a character in one of them moves to `next`
    int32_t next = -1;
    std::vector<int32_t> eps;  // moves that take no character
  };
  std::vector<State> states_;
  int32_t match_ = -1;
  States start_;
  std::string source_;
  std::vector<bool> live_;  // can still reach the match

  States closure(std::vector<int32_t> seeds) const;
  friend class PatternBuilder;
};

}  // namespace fathom::gen
