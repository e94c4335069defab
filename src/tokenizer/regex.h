// A compiled tokenizer regex on PCRE2 with JIT. Hugging Face compiles the same patterns with
// Oniguruma; the two agree on the syntax tokenizer.json files use, except for \s, which Oniguruma
// takes as the Unicode White_Space property while PCRE2 adds U+180E. The constructor therefore
// rewrites \s and \S to explicit White_Space classes before compiling.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace fathom::tok {

class Regex {
 public:
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(begin, end) for each successive non-overlapping match in s, leftmost first.
  // An empty match moves the search on by one character, as Oniguruma's iterator does.
  template <typename F>
  void for_each_match(std::string_view s, F&& on_match) const {
    size_t pos = 0;
    std::pair<size_t, size_t> m;
    while (pos <= s.size() && find(s, pos, m)) {
      on_match(m.first, m.second);
      if (m.second == m.first) {
        if (m.second >= s.size()) break;
        pos = m.second + 1;
        while (pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) ++pos;
      } else {
        pos = m.second;
      }
    }
  }

  const std::string& pattern() const { return pattern_; }

 private:
  bool find(std::string_view s, size_t start, std::pair<size_t, size_t>& m) const;

  std::string pattern_;
  pcre2_real_code_8* code_ = nullptr;
};

// The PCRE2 pattern that means what `pattern` means to Oniguruma (\s, newer \p{..} categories).
std::string translate_pattern(const std::string& pattern);

// Escapes a literal string for use inside a PCRE2 pattern.
std::string regex_escape(std::string_view literal);

}  // namespace fathom::tok
