// ChatTemplate: JSON messages and options -> template variables -> rendered prompt.
#include "chat/chat_template.h"

#include "chat/jinja.h"
#include "core/error.h"

namespace fathom::chat {

ChatTemplate::ChatTemplate(std::string source) : template_(std::make_shared<const Template>(std::move(source))) {}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, const ChatOptions& o) const {
  if (!messages.is_array()) fail("chat messages must be a JSON array");
  if (!o.extra.is_object()) fail("extra chat template variables must be a JSON object");
  std::vector<std::pair<std::string, Value>> vars;
  vars.emplace_back("messages", Value::from_json(messages));
  vars.emplace_back("add_generation_prompt", Value::boolean(o.add_generation_prompt));
  vars.emplace_back("bos_token", Value::string(o.bos_token));
  vars.emplace_back("eos_token", Value::string(o.eos_token));
  if (!o.tools.is_null()) vars.emplace_back("tools", Value::from_json(o.tools));
  for (auto& [k, v] : o.extra.items()) {
    bool replaced = false;
    for (auto& [name, val] : vars)
      if (name == k) { val = Value::from_json(v); replaced = true; }
    if (!replaced) vars.emplace_back(k, Value::from_json(v));
  }
  return template_->render(vars);
}

std::string render_chat(std::string_view chat_template, const nlohmann::ordered_json& messages,
                        const ChatOptions& o) {
  return ChatTemplate(std::string(chat_template)).render(messages, o);
}

}  // namespace fathom::chat
