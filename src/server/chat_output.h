// The assistant's generated text split the way the OpenAI / DeepSeek chat API returns it:
// `<think>...</think>` → reasoning_content (generation/reasoning.h), then the answer, in which
// DeepSeek's tool-call block → tool_calls (server/tool_calls.h). Streams: push() returns the deltas
// that became certain, flush() the rest at the end of generation.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "generation/reasoning.h"
#include "server/tool_calls.h"

namespace fathom::server {

struct ChatDelta {
  enum class Kind { Reasoning, Content, ToolBegin, ToolArguments };
  Kind kind;
  int index = 0;     // tool calls: which call
  std::string text;  // ToolBegin: the function name
};

class ChatOutputParser {
 public:
  // starts_in_reasoning: the prompt already opened <think> (prompt_opens_reasoning).
  // parse_tools: the request offered tools (else a tool-call block stays plain content).
  ChatOutputParser(bool starts_in_reasoning, bool parse_tools);

  std::vector<ChatDelta> push(std::string_view text);
  std::vector<ChatDelta> flush();
  int tool_calls() const { return tools_.calls(); }

 private:
  void take(std::vector<ChatDelta>& out, std::vector<ReasoningPiece> pieces, bool final);
  ReasoningParser reasoning_;
  ToolCallParser tools_;
  bool parse_tools_;
};

// The whole-text form, for non-streaming responses.
struct ToolCall {
  std::string name, arguments;
};
struct ChatMessageOut {
  std::string reasoning, content;
  std::vector<ToolCall> tool_calls;
};
void apply_deltas(ChatMessageOut& msg, const std::vector<ChatDelta>& deltas);

}  // namespace fathom::server
