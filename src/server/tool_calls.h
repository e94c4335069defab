// DeepSeek's tool-call grammar, parsed from generated text into OpenAI `tool_calls`, in a stream.
//
//   <｜tool▁calls▁begin｜> CALL+ <｜tool▁calls▁end｜>
//   CALL, V3 / R1:  <｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>
//   CALL, V3.1:     <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>
//
// The markers are single tokens, but text reaches the parser in pieces that a stop-string matcher
// may have cut anywhere, so a tail that could still become a marker is held back until it cannot.
// Text outside the calls block is content. Arguments stream as they come; in the V3 form the
// closing fence ("\n```") is held back and dropped.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fathom::server {

struct ToolCallEvent {
  enum class Kind { Content, Begin, Arguments };
  Kind kind;
  int index = 0;     // Begin / Arguments: which call, 0-based
  std::string text;  // Content: the text; Begin: the function name; Arguments: a fragment
};

class ToolCallParser {
 public:
  std::vector<ToolCallEvent> push(std::string_view text);
  std::vector<ToolCallEvent> flush();  // end of generation: releases what is held back

  int calls() const { return calls_; }  // calls begun so far

 private:
  enum class State { Content, Block, Head, Name, Fence, Args, AfterBlock };
  void step(std::vector<ToolCallEvent>& out, bool final);
  void emit(std::vector<ToolCallEvent>& out, ToolCallEvent::Kind kind, std::string text);

  State state_ = State::Content;
  std::string buf_;   // text not yet consumed
  std::string head_;  // text between call-begin and tool-sep
  std::string name_;  // V3 form: the name line after tool-sep
  std::string held_;  // V3 form: argument tail that may be the closing fence
  bool v3_form_ = false;
  int calls_ = 0;
};

// Which form of a call a model writes, read from its chat template (how it renders past calls):
// V3.1 when the template has the separator but no "```json" fence, V3 / R1 otherwise (also for a
// template that renders no tool calls at all).
enum class ToolCallFormat { V3, V31 };
ToolCallFormat tool_call_format(std::string_view chat_template);
// The text of a whole calls block around one call's arguments, in that form: what tool_choice
// "required" or a named function constrains the output to (generation/json_schema.h's Wrapped).
std::pair<std::string, std::string> tool_call_frame(ToolCallFormat format, std::string_view name);

// The markers, for templates and tests.
inline constexpr std::string_view kToolCallsBegin = "<｜tool▁calls▁begin｜>";
inline constexpr std::string_view kToolCallsEnd = "<｜tool▁calls▁end｜>";
inline constexpr std::string_view kToolCallBegin = "<｜tool▁call▁begin｜>";
inline constexpr std::string_view kToolCallEnd = "<｜tool▁call▁end｜>";
inline constexpr std::string_view kToolSep = "<｜tool▁sep｜>";

}  // namespace fathom::server
