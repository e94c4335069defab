#include "cli/chat_prompt.h"

#include "chat/chat_template.h"
#include "core/error.h"

namespace fathom::cli {

std::string render_chat(const Tokenizer& tok, const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  const std::string& tmpl = tok.chat_template();
  if (tmpl.empty()) fail("the model has no chat template (tokenizer_config.json: chat_template)");
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (auto& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  chat::ChatOptions opt;
  opt.add_generation_prompt = add_generation_prompt;
  opt.bos_token = tok.bos_token();
  opt.eos_token = tok.eos_token();
  return chat::render_chat(tmpl, list, opt);
}

}  // namespace fathom::cli
