// Chat messages -> prompt text through the model's own chat template (tokenizer_config.json), for
// `fathom run --chat` and `fathom chat`. The rendered text already holds BOS where the template
// puts it, so it is encoded without adding special tokens (as Hugging Face's apply_chat_template).
#pragma once
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace fathom::cli {

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

// Throws fathom::Error when the model has no chat template.
std::string render_chat(const Tokenizer& tok, const std::vector<ChatMessage>& messages, bool add_generation_prompt);

}  // namespace fathom::cli
