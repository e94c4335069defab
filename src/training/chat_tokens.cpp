#include "training/chat_tokens.h"

#include "core/error.h"

namespace fathom::train {

namespace {
const std::string& required_template(const tok::Tokenizer& tok) {
  const std::string& t = tok.chat_template();
  if (t.empty()) fail("the tokenizer has no chat template (tokenizer_config.json: chat_template)");
  return t;
}
}  // namespace

ChatRenderer::ChatRenderer(const tok::Tokenizer& tok) : tok_(tok), template_(required_template(tok)) {}

std::string ChatRenderer::render(const nlohmann::ordered_json& messages, bool add_generation_prompt) const {
  chat::ChatOptions opt;
  opt.add_generation_prompt = add_generation_prompt;
  opt.bos_token = tok_.bos_token();
  opt.eos_token = tok_.eos_token();
  return template_.render(messages, opt);
}

ChatTokens ChatRenderer::conversation(const nlohmann::ordered_json& messages, const std::string& where) const {
  if (!messages.is_array() || messages.empty()) fail("{}: \"messages\" must be a non-empty array", where);
  std::vector<std::string> roles;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string())
      fail("{}: message {} must be an object with string \"role\" and \"content\"", where, i);
    roles.push_back(m["role"].get<std::string>());
    if (roles[i] != "system" && roles[i] != "user" && roles[i] != "assistant")
      fail("{}: message {} has role \"{}\" (expected system, user or assistant)", where, i, roles[i]);
  }
  const std::string full = render(messages, false);
  // Cut points of the full text: [prompt part, assistant part] for each assistant message.
  std::vector<std::pair<size_t, bool>> pieces;  // (end offset, is assistant)
  size_t done = 0;
  bool any = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (roles[i] != "assistant") continue;
    const nlohmann::ordered_json before(messages.begin(), messages.begin() + std::ptrdiff_t(i));
    const nlohmann::ordered_json upto(messages.begin(), messages.begin() + std::ptrdiff_t(i) + 1);
    const std::string p = render(before, true), f = render(upto, false);
    if (p.size() < done || f.compare(0, p.size(), p) != 0 || full.compare(0, f.size(), f) != 0 || f.size() <= p.size())
      fail("{}: the chat template does not render assistant message {} as an extension of the conversation before it "
           "(cannot tell its tokens apart)",
           where, i);
    // A template that rewrites the turn (R1's drops the reasoning before </think>) would train on
    // something other than the data: refuse rather than lose it silently.
    if (f.find(messages[i]["content"].get<std::string>(), p.size()) == std::string::npos)
      fail("{}: the chat template does not render assistant message {} verbatim (it drops or rewrites part of it, "
           "e.g. the reasoning before </think>); use a template that keeps the final turn whole",
           where, i);
    pieces.emplace_back(p.size(), false);
    pieces.emplace_back(f.size(), true);
    done = f.size();
    any = true;
  }
  if (!any) fail("{}: the conversation has no assistant message (nothing to learn)", where);
  if (done < full.size()) pieces.emplace_back(full.size(), false);

  ChatTokens out;
  size_t begin = 0;
  for (auto [end, assistant] : pieces) {
    if (end <= begin) continue;
    const auto ids = tok_.encode(std::string_view(full).substr(begin, end - begin), false);
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    out.mask.insert(out.mask.end(), ids.size(), assistant ? 1 : 0);
    begin = end;
  }
  return out;
}

std::string ChatRenderer::prompt_text(const std::string& user_message) const {
  nlohmann::ordered_json m = nlohmann::ordered_json::array();
  m.push_back({{"role", "user"}, {"content", user_message}});
  return render(m, true);
}

std::string ChatRenderer::answer_prefix(const std::string& prompt_text) {
  for (const char* tail : {"<think>\n", "<think>"}) {
    const std::string_view t(tail);
    if (prompt_text.size() >= t.size() && prompt_text.compare(prompt_text.size() - t.size(), t.size(), t) == 0)
      return std::string(t);
  }
  return "";
}

}  // namespace fathom::train
