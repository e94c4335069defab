// Chat messages -> prompt text through the model's own chat template (tokenizer_config.json), for
// `fathom run --chat` and `fathom chat`. The rendered text already holds BOS where the template
// puts it, so it is encoded without adding special tokens (as Hugging Face's apply_chat_template).
#pragma once
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace fathom::cli {

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

// The model's chat template, parsed once per command (a chat session renders it every turn).
class ChatPrompt {
 public:
  // Throws fathom::Error when the model has no chat template or it does not parse.
  explicit ChatPrompt(const Tokenizer& tok);
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

 private:
  chat::ChatTemplate template_;
  std::string bos_token_, eos_token_;
};

}  // namespace fathom::cli
