#include "cli/chat_prompt.h"

#include "core/error.h"

namespace fathom::cli {

namespace {

const std::string& required_template(const Tokenizer& tok) {
  const std::string& tmpl = tok.chat_template();
  if (tmpl.empty()) fail("the model has no chat template (tokenizer_config.json: chat_template)");
  return tmpl;
}

}  // namespace

ChatPrompt::ChatPrompt(const Tokenizer& tok)
    : template_(required_template(tok)), bos_token_(tok.bos_token()), eos_token_(tok.eos_token()) {}

std::string ChatPrompt::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (auto& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  chat::ChatOptions opt;
  opt.add_generation_prompt = add_generation_prompt;
  opt.bos_token = bos_token_;
  opt.eos_token = eos_token_;
  return template_.render(list, opt);
}

}  // namespace fathom::cli
