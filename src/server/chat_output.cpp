#include "server/chat_output.h"

namespace fathom::server {

ChatOutputParser::ChatOutputParser(bool starts_in_reasoning, bool parse_tools)
    : reasoning_(starts_in_reasoning), parse_tools_(parse_tools) {}

void ChatOutputParser::take(std::vector<ChatDelta>& out, std::vector<ReasoningPiece> pieces, bool final) {
  auto add = [&](ChatDelta d) {
    if (d.text.empty() && d.kind != ChatDelta::Kind::ToolBegin) return;
    if (!out.empty() && out.back().kind == d.kind && out.back().index == d.index && d.kind != ChatDelta::Kind::ToolBegin)
      out.back().text += d.text;
    else
      out.push_back(std::move(d));
  };
  std::string content;
  for (auto& p : pieces) {
    if (p.reasoning) {
      add({ChatDelta::Kind::Reasoning, 0, std::move(p.text)});
      continue;
    }
    if (!parse_tools_) {
      add({ChatDelta::Kind::Content, 0, std::move(p.text)});
      continue;
    }
    for (auto& e : tools_.push(p.text)) {
      const auto kind = e.kind == ToolCallEvent::Kind::Content ? ChatDelta::Kind::Content
                        : e.kind == ToolCallEvent::Kind::Begin ? ChatDelta::Kind::ToolBegin
                                                               : ChatDelta::Kind::ToolArguments;
      add({kind, e.index, std::move(e.text)});
    }
  }
  if (final && parse_tools_)
    for (auto& e : tools_.flush()) {
      const auto kind = e.kind == ToolCallEvent::Kind::Content ? ChatDelta::Kind::Content
                        : e.kind == ToolCallEvent::Kind::Begin ? ChatDelta::Kind::ToolBegin
                                                               : ChatDelta::Kind::ToolArguments;
      add({kind, e.index, std::move(e.text)});
    }
}

std::vector<ChatDelta> ChatOutputParser::push(std::string_view text) {
  std::vector<ChatDelta> out;
  take(out, reasoning_.push(text), false);
  return out;
}

std::vector<ChatDelta> ChatOutputParser::flush() {
  std::vector<ChatDelta> out;
  take(out, reasoning_.flush(), true);
  return out;
}

void apply_deltas(ChatMessageOut& msg, const std::vector<ChatDelta>& deltas) {
  for (auto& d : deltas) {
    switch (d.kind) {
      case ChatDelta::Kind::Reasoning: msg.reasoning += d.text; break;
      case ChatDelta::Kind::Content: msg.content += d.text; break;
      case ChatDelta::Kind::ToolBegin: msg.tool_calls.push_back({d.text, ""}); break;
      case ChatDelta::Kind::ToolArguments:
        if (d.index < int(msg.tool_calls.size())) msg.tool_calls[size_t(d.index)].arguments += d.text;
        break;
    }
  }
}

}  // namespace fathom::server
