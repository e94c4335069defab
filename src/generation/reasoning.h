// Reasoning split for R1-style output: "<think>\n...reasoning...</think>\n\nanswer". The opening tag
// counts only before any answer text (a model discussing tags later is just talking), and when the
// prompt already opened it (R1's generation prompt ends with "<think>\n") the output starts inside
// the reasoning. Tags are removed; whitespace at the start of each section is dropped. Streaming:
// a tail that could still become a tag is held back until it cannot.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace fathom {

struct ReasoningPiece {
  bool reasoning;  // inside <think>...</think>
  std::string text;
};

class ReasoningParser {
 public:
  explicit ReasoningParser(bool starts_in_reasoning = false, std::string open = "<think>",
                           std::string close = "</think>");

  std::vector<ReasoningPiece> push(std::string_view text);
  std::vector<ReasoningPiece> flush();  // end of stream: releases what is held back

  bool in_reasoning() const { return state_ == State::Reasoning; }
  bool saw_reasoning() const { return saw_reasoning_; }

 private:
  enum class State { Start, Reasoning, Content };
  void emit(std::vector<ReasoningPiece>& out, bool reasoning, std::string_view text);

  std::string open_, close_;
  State state_;
  bool at_section_start_ = true;  // drop whitespace until the section's first visible character
  bool saw_reasoning_ = false;
  std::string pending_;
};

struct ReasoningSplit {
  std::string reasoning, content;
};
// True when a rendered prompt ends inside an opened reasoning block (R1's generation prompt ends
// with "<think>\n"): the output then starts in the reasoning.
bool prompt_opens_reasoning(std::string_view prompt, std::string_view open = "<think>");

// The whole-text form, for non-streaming callers.
ReasoningSplit split_reasoning(std::string_view text, bool starts_in_reasoning = false);

}  // namespace fathom
