// Added-token matching (see added_tokens.h for the rules being reproduced).
#include "tokenizer/added_tokens.h"

#include "tokenizer/unicode.h"

namespace fathom::tok {
namespace {

// The character that ends s[0, end) / starts s[begin, ...), or -1 at the edge.
int32_t char_before(std::string_view s, size_t end) {
  if (end == 0) return -1;
  size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  return next_code_point(s, b);
}

int32_t char_at(std::string_view s, size_t begin) {
  if (begin >= s.size()) return -1;
  return next_code_point(s, begin);
}

bool is_word_char(int32_t c) { return c >= 0 && (c == '_' || is_alphanumeric(c)); }

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<const AddedToken*> tokens,
                                     std::vector<std::string> patterns)
    : tokens_(std::move(tokens)) {
  int32_t nodes = 1;  // node 0 is the root
  for (size_t i = 0; i < patterns.size(); ++i) {
    const std::string& p = patterns[i];
    if (p.empty()) continue;
    first_byte_[static_cast<unsigned char>(p[0])] = true;
    int32_t node = 0;
    for (unsigned char c : p) {
      uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
      auto [it, inserted] = edges_.try_emplace(key, nodes);
      if (inserted) ++nodes;
      node = it->second;
    }
    terminal_.try_emplace(node, static_cast<int32_t>(i));  // first of duplicate contents wins
  }
}

int AddedTokenMatcher::longest_at(std::string_view s, size_t pos, size_t& len) const {
  int best = -1;
  int32_t node = 0;
  for (size_t i = pos; i < s.size(); ++i) {
    auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(s[i]));
    if (it == edges_.end()) break;
    node = it->second;
    if (auto t = terminal_.find(node); t != terminal_.end()) {
      best = t->second;
      len = i + 1 - pos;
    }
  }
  return best;
}

void AddedTokenMatcher::split(std::string_view s, std::vector<Span>& out) const {
  size_t text_start = 0;  // start of the pending text span
  for (size_t pos = 0; pos < s.size();) {
    if (!first_byte_[static_cast<unsigned char>(s[pos])]) { ++pos; continue; }
    size_t len = 0;
    int idx = longest_at(s, pos, len);
    if (idx < 0) { ++pos; continue; }
    const AddedToken& t = *tokens_[idx];
    size_t start = pos, stop = pos + len;
    pos = stop;  // the match is consumed even if the flags reject it below
    if (t.single_word && (is_word_char(char_before(s, start)) || is_word_char(char_at(s, stop))))
      continue;
    if (t.lstrip) {
      while (start > text_start) {
        int32_t c = char_before(s, start);
        if (c < 0 || !is_whitespace(c)) break;
        size_t b = start - 1;
        while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
        start = b;
      }
    }
    if (t.rstrip) {
      while (stop < s.size()) {
        size_t i = stop;
        int32_t c = next_code_point(s, i);
        if (c < 0 || !is_whitespace(c)) break;
        stop = i;
      }
      pos = std::max(pos, stop);
    }
    if (text_start < start) out.push_back({text_start, start, -1});
    out.push_back({start, stop, t.id});
    text_start = stop;
  }
  if (text_start < s.size() || out.empty()) out.push_back({text_start, s.size(), -1});
}

}  // namespace fathom::tok
