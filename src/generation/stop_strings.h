// Stop strings on streamed text. Generated text arrives in pieces (each ending on a UTF-8 character
// boundary, from StreamDecoder); a stop string may straddle pieces, so the matcher holds back the
// longest tail that could still become one and releases it once it cannot. The text before a
// stop string is released, the stop string itself never is (OpenAI semantics).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace fathom {

class StopMatcher {
 public:
  // Throws fathom::Error for an empty stop string (it would match before the first token).
  explicit StopMatcher(std::vector<std::string> stops = {});

  // Appends a piece; returns the text that is safe to show now. Once a stop string is found,
  // stopped() is true, the returned text ends just before it, and later calls return "".
  std::string push(std::string_view piece);
  // End of stream: everything still held back.
  std::string flush();

  bool stopped() const { return !matched_.empty(); }
  const std::string& matched() const { return matched_; }  // the stop string found
  size_t held() const { return pending_.size(); }           // bytes held back right now

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  std::string matched_;
};

}  // namespace fathom
