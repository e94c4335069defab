// Rendering a model's chat template, as transformers' apply_chat_template does: the template sees
// `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, `tools` (only when given) and
// any extra variables (e.g. `thinking` for DeepSeek-V3.1).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace fathom::chat {

struct ChatOptions {
  bool add_generation_prompt = false;
  nlohmann::ordered_json tools;                                  // null: not defined
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // more template variables
  std::string bos_token, eos_token;
};

// messages: a JSON array of {"role": ..., "content": ..., "tool_calls": [...], ...}. Throws
// fathom::Error naming the template line:column on a template error or raise_exception().
std::string render_chat(std::string_view chat_template, const nlohmann::ordered_json& messages,
                        const ChatOptions& options = {});

}  // namespace fathom::chat
