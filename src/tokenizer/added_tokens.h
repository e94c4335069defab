// Added (and special) tokens are cut out of the text before anything else runs, as Hugging Face's
// AddedVocabulary does: leftmost-longest matching over all token contents, then per-token flags.
// single_word rejects a match touching a word character; lstrip / rstrip swallow the whitespace
// next to the token into it. A rejected match still consumes its text, like the Aho-Corasick
// iterator in the reference.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fathom::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

struct Span {
  size_t begin, end;
  int32_t id;  // -1: ordinary text to normalize and tokenize
};

class AddedTokenMatcher {
 public:
  // `patterns[i]` is the text to look for (the content, normalized for normalized tokens).
  AddedTokenMatcher(std::vector<const AddedToken*> tokens, std::vector<std::string> patterns);

  bool empty() const { return tokens_.empty(); }
  // Splits s into text spans (id -1) and token spans, in order. Text spans may be empty.
  void split(std::string_view s, std::vector<Span>& out) const;

 private:
  // Longest pattern starting at s[pos]: its index, or -1.
  int longest_at(std::string_view s, size_t pos, size_t& len) const;

  std::vector<const AddedToken*> tokens_;
  bool first_byte_[256] = {};
  // Trie over bytes: transition (node << 8 | byte) -> child; terminal node -> pattern index.
  std::unordered_map<uint64_t, int32_t> edges_;
  std::unordered_map<int32_t, int32_t> terminal_;
};

}  // namespace fathom::tok
