#include "generation/reasoning.h"

#include <algorithm>

namespace fathom {

namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Length of the longest tail of `s` that is a proper prefix of `tag`.
size_t partial_tag_tail(std::string_view s, std::string_view tag) {
  for (size_t k = std::min(tag.size() - 1, s.size()); k > 0; --k)
    if (s.substr(s.size() - k) == tag.substr(0, k)) return k;
  return 0;
}

}  // namespace

ReasoningParser::ReasoningParser(bool starts_in_reasoning, std::string open, std::string close)
    : open_(std::move(open)), close_(std::move(close)),
      state_(starts_in_reasoning ? State::Reasoning : State::Start), saw_reasoning_(starts_in_reasoning) {}

void ReasoningParser::emit(std::vector<ReasoningPiece>& out, bool reasoning, std::string_view text) {
  if (at_section_start_) {
    size_t i = 0;
    while (i < text.size() && is_space(text[i])) ++i;
    text.remove_prefix(i);
    if (text.empty()) return;
    at_section_start_ = false;
  }
  if (!out.empty() && out.back().reasoning == reasoning)
    out.back().text += text;
  else
    out.push_back({reasoning, std::string(text)});
}

std::vector<ReasoningPiece> ReasoningParser::push(std::string_view text) {
  std::vector<ReasoningPiece> out;
  pending_ += text;
  for (;;) {
    if (state_ == State::Start) {
      // Only leading whitespace may come before the opening tag.
      size_t i = 0;
      while (i < pending_.size() && is_space(pending_[i])) ++i;
      std::string_view rest = std::string_view(pending_).substr(i);
      if (rest.size() >= open_.size() && rest.substr(0, open_.size()) == open_) {
        pending_.erase(0, i + open_.size());
        state_ = State::Reasoning;
        saw_reasoning_ = true;
        at_section_start_ = true;
        continue;
      }
      if (std::string_view(open_).substr(0, rest.size()) == rest) return out;  // could still be the tag
      state_ = State::Content;
      continue;
    }
    if (state_ == State::Reasoning) {
      size_t at = pending_.find(close_);
      if (at != std::string::npos) {
        emit(out, true, std::string_view(pending_).substr(0, at));
        pending_.erase(0, at + close_.size());
        state_ = State::Content;
        at_section_start_ = true;
        continue;
      }
      const size_t hold = partial_tag_tail(pending_, close_);
      emit(out, true, std::string_view(pending_).substr(0, pending_.size() - hold));
      pending_.erase(0, pending_.size() - hold);
      return out;
    }
    emit(out, false, pending_);
    pending_.clear();
    return out;
  }
}

std::vector<ReasoningPiece> ReasoningParser::flush() {
  std::vector<ReasoningPiece> out;
  if (!pending_.empty()) emit(out, state_ == State::Reasoning, pending_);
  pending_.clear();
  return out;
}

bool prompt_opens_reasoning(std::string_view prompt, std::string_view open) {
  while (!prompt.empty() && is_space(prompt.back())) prompt.remove_suffix(1);
  return prompt.size() >= open.size() && prompt.substr(prompt.size() - open.size()) == open;
}

ReasoningSplit split_reasoning(std::string_view text, bool starts_in_reasoning) {
  ReasoningParser p(starts_in_reasoning);
  ReasoningSplit r;
  auto take = [&](const std::vector<ReasoningPiece>& pieces) {
    for (auto& piece : pieces) (piece.reasoning ? r.reasoning : r.content) += piece.text;
  };
  take(p.push(text));
  take(p.flush());
  return r;
}

}  // namespace fathom
