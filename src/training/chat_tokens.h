// A chat conversation -> token ids and a loss mask, through the model's own chat template, for
// supervised fine-tuning on assistant turns only (`fathom prepare --chat`) and for the prompts of
// `fathom train-grpo` / `fathom eval-arith`.
//
// The conversation is rendered whole (as transformers' apply_chat_template does). The text of
// assistant turn i is what rendering messages[0..i] adds after rendering messages[0..i) with the
// generation prompt: the turn's content and whatever the template closes it with (EOS for the
// DeepSeek templates), so the model learns to stop. Each such span must be a prefix extension of the
// one before (the template renders history as it renders the last turn), or the conversation is
// rejected with the message's index.
//
// Text is tokenized piece by piece (prompt part, assistant part, ...), each piece alone: exactly
// how a prompt is tokenized at inference before the model appends its answer, so the boundary
// between prompt and answer falls where generation will see it.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace fathom::train {

struct ChatTokens {
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;  // 1 where ids[i] is part of an assistant turn (a loss target)
};

class ChatRenderer {
 public:
  // Throws fathom::Error when the tokenizer has no chat template or it does not parse.
  explicit ChatRenderer(const tok::Tokenizer& tok);

  // messages: [{"role": "system" | "user" | "assistant", "content": "..."}...]. Throws
  // fathom::Error (naming `where`, e.g. "data.jsonl:12") on a malformed message list.
  ChatTokens conversation(const nlohmann::ordered_json& messages, const std::string& where) const;

  // The prompt text for one user message, with the generation prompt appended: what generation
  // starts from. Its tokens: tokenizer.encode(text) (the template wrote BOS where it belongs).
  std::string prompt_text(const std::string& user_message) const;
  std::vector<int32_t> prompt(const std::string& user_message) const { return tok_.encode(prompt_text(user_message)); }
  // What of the answer the generation prompt already wrote ("<think>\n" for templates that open the
  // think block themselves, else ""): the verifier sees it before the generated text.
  static std::string answer_prefix(const std::string& prompt_text);

 private:
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt) const;
  const tok::Tokenizer& tok_;
  chat::ChatTemplate template_;
};

}  // namespace fathom::train
