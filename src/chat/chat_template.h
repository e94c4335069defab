// Rendering a model's chat template, as transformers' apply_chat_template does: the template sees
// `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, `tools` (only when given) and
// any extra variables (e.g. `thinking` for DeepSeek-V3.1).
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace fathom::chat {

class Template;

struct ChatOptions {
  bool add_generation_prompt = false;
  nlohmann::ordered_json tools;                                  // null: not defined
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // more template variables
  std::string bos_token, eos_token;
};

// A chat template parsed once, rendered for every conversation: whoever holds the model's template
// (the CLI's chat session, the server) builds one of these when it starts. Rendering keeps no
// state, so one object serves concurrent requests; copies share the parsed tree.
class ChatTemplate {
 public:
  // Throws fathom::Error naming the template line:column on a syntax error.
  explicit ChatTemplate(std::string source);
  // messages: a JSON array of {"role": ..., "content": ..., "tool_calls": [...], ...}. Throws
  // fathom::Error naming the template line:column on a render error or raise_exception().
  std::string render(const nlohmann::ordered_json& messages, const ChatOptions& options = {}) const;

 private:
  std::shared_ptr<const Template> template_;
};

// One-off: parses chat_template and renders it (for a template used once, as `fathom chat-template`).
std::string render_chat(std::string_view chat_template, const nlohmann::ordered_json& messages,
                        const ChatOptions& options = {});

}  // namespace fathom::chat
