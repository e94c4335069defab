#include "cli/chat_prompt.h"

#include "core/error.h"

namespace fathom::cli {

// TEMPORARY until src/chat (the Jinja engine) lands: DeepSeek-V3's layout written out by hand,
// used only for templates that follow it (<｜User｜> / <｜Assistant｜> markers).
std::string render_chat(const Tokenizer& tok, const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  const std::string& tmpl = tok.chat_template();
  if (tmpl.empty()) fail("the model has no chat template (tokenizer_config.json: chat_template)");
  if (tmpl.find("<｜User｜>") == std::string::npos) fail("unsupported chat template (needs the chat template engine)");
  std::string system, out = tok.bos_token();
  for (auto& m : messages)
    if (m.role == "system") system += (system.empty() ? "" : "\n\n") + m.content;
  out += system;
  for (auto& m : messages) {
    if (m.role == "user") out += "<｜User｜>" + m.content;
    if (m.role == "assistant") {
      std::string c = m.content;
      if (auto at = c.rfind("</think>"); at != std::string::npos) c = c.substr(at + 8);
      out += "<｜Assistant｜>" + c + tok.eos_token();
    }
  }
  if (add_generation_prompt) out += "<｜Assistant｜>";
  return out;
}

}  // namespace fathom::cli
