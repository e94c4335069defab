#include "generation/stop_strings.h"

#include <algorithm>

#include "core/error.h"

namespace fathom {

namespace {

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const auto& s : stops_)
    if (s.empty()) fail("stop strings must not be empty");
}

std::string StopMatcher::push(std::string_view piece) {
  if (stopped()) return {};
  pending_ += piece;

  // The earliest occurrence of any stop string wins; at one position, the longest.
  size_t best = std::string::npos;
  const std::string* which = nullptr;
  for (const auto& s : stops_) {
    size_t at = pending_.find(s);
    if (at == std::string::npos) continue;
    if (at < best || (at == best && s.size() > which->size())) {
      best = at;
      which = &s;
    }
  }
  if (which) {
    matched_ = *which;
    std::string out = pending_.substr(0, best);
    pending_.clear();
    return out;
  }

  // Hold back the longest tail of pending_ that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const auto& s : stops_) {
    const size_t max_k = std::min(s.size() - 1, pending_.size());
    for (size_t k = max_k; k > hold; --k)
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  }
  // A stop string starts on a character boundary, so the cut already does; this only guards
  // against stop strings that are not valid UTF-8 themselves.
  size_t cut = pending_.size() - hold;
  while (cut > 0 && cut < pending_.size() && is_continuation_byte(pending_[cut])) --cut;
  std::string out = pending_.substr(0, cut);
  pending_.erase(0, cut);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace fathom
