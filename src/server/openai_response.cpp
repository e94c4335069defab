#include "server/openai_response.h"

#include <random>

#include "tokenizer/tokenizer.h"

namespace fathom::server {

namespace {

ojson bytes_array(const std::string& s) {
  ojson a = ojson::array();
  for (unsigned char c : s) a.push_back(int(c));
  return a;
}

// A token's bytes; "" for an id the tokenizer does not know (a model may emit one when its
// vocab_size is larger than the tokenizer's).
const std::string& piece(const tok::Tokenizer& tok, int32_t id) {
  static const std::string none;
  return tok.is_valid_id(id) ? tok.token_bytes(id) : none;
}

}  // namespace

ojson usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

std::string finish_reason(FinishReason r, bool tool_calls) {
  switch (r) {
    case FinishReason::MaxTokens:
    case FinishReason::ContextFull: return "length";
    default: return tool_calls ? "tool_calls" : "stop";
  }
}

ojson chat_logprobs(const tok::Tokenizer& tok, const std::vector<TokenLogprob>& lps) {
  ojson content = ojson::array();
  auto entry = [&](int32_t id, float lp) {
    const std::string& b = piece(tok, id);
    return ojson{{"token", b}, {"logprob", lp}, {"bytes", bytes_array(b)}};
  };
  for (auto& lp : lps) {
    ojson e = entry(lp.token, lp.logprob);
    ojson top = ojson::array();
    for (auto& [id, l] : lp.top) top.push_back(entry(id, l));
    e["top_logprobs"] = top;
    content.push_back(e);
  }
  return {{"content", content}};
}

ojson completion_logprobs(const tok::Tokenizer& tok, const std::vector<TokenLogprob>& lps, size_t offset) {
  ojson tokens = ojson::array(), logprobs = ojson::array(), top = ojson::array(), offsets = ojson::array();
  for (auto& lp : lps) {
    const std::string& b = piece(tok, lp.token);
    tokens.push_back(b);
    logprobs.push_back(lp.logprob);
    ojson t = ojson::object();
    for (auto& [id, l] : lp.top) t[piece(tok, id)] = l;
    top.push_back(t);
    offsets.push_back(offset);
    offset += b.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

std::string random_id(const std::string& prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string s = prefix;
  for (int i = 0; i < 24; ++i) s += kChars[rng() % (sizeof(kChars) - 1)];
  return s;
}

ojson chat_delta(const ChatDelta& d, const std::vector<std::string>& call_ids) {
  const std::string id = d.index < int(call_ids.size()) ? call_ids[size_t(d.index)] : "";
  switch (d.kind) {
    case ChatDelta::Kind::Reasoning: return {{"reasoning_content", d.text}};
    case ChatDelta::Kind::Content: return {{"content", d.text}};
    case ChatDelta::Kind::ToolBegin:
      return {{"tool_calls", ojson::array({{{"index", d.index}, {"id", id}, {"type", "function"},
                                            {"function", {{"name", d.text}, {"arguments", ""}}}}})}};
    case ChatDelta::Kind::ToolArguments:
      return {{"tool_calls", ojson::array({{{"index", d.index}, {"function", {{"arguments", d.text}}}}})}};
  }
  return ojson::object();
}

ojson chat_chunk(const ResponseHead& h, ojson delta, ojson logprobs, ojson finish_reason, bool with_usage_field) {
  ojson j = {{"id", h.id},
             {"object", "chat.completion.chunk"},
             {"created", h.created},
             {"model", h.model},
             {"system_fingerprint", "fathom"},
             {"choices", ojson::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)},
                                        {"finish_reason", std::move(finish_reason)}}})}};
  if (with_usage_field) j["usage"] = nullptr;
  return j;
}

ojson chat_usage_chunk(const ResponseHead& h, const Usage& u) {
  return {{"id", h.id},           {"object", "chat.completion.chunk"}, {"created", h.created},
          {"model", h.model},     {"system_fingerprint", "fathom"},    {"choices", ojson::array()},
          {"usage", usage_json(u)}};
}

ojson chat_completion(const ResponseHead& h, const ChatMessageOut& msg, const std::vector<std::string>& call_ids,
                      const std::string& finish, const Usage& u, ojson logprobs) {
  ojson m = {{"role", "assistant"}, {"content", msg.content}};
  if (!msg.reasoning.empty()) m["reasoning_content"] = msg.reasoning;
  if (!msg.tool_calls.empty()) {
    ojson calls = ojson::array();
    for (size_t i = 0; i < msg.tool_calls.size(); ++i)
      calls.push_back({{"id", i < call_ids.size() ? call_ids[i] : random_id("call_")},
                       {"type", "function"},
                       {"function", {{"name", msg.tool_calls[i].name}, {"arguments", msg.tool_calls[i].arguments}}}});
    m["tool_calls"] = calls;
    if (msg.content.empty()) m["content"] = nullptr;
  }
  return {{"id", h.id},
          {"object", "chat.completion"},
          {"created", h.created},
          {"model", h.model},
          {"system_fingerprint", "fathom"},
          {"choices", ojson::array({{{"index", 0}, {"message", m}, {"logprobs", std::move(logprobs)},
                                     {"finish_reason", finish}}})},
          {"usage", usage_json(u)}};
}

ojson completion_chunk(const ResponseHead& h, const std::string& text, ojson logprobs, ojson finish_reason,
                       bool with_usage_field) {
  ojson j = {{"id", h.id},
             {"object", "text_completion"},
             {"created", h.created},
             {"model", h.model},
             {"system_fingerprint", "fathom"},
             {"choices", ojson::array({{{"text", text}, {"index", 0}, {"logprobs", std::move(logprobs)},
                                        {"finish_reason", std::move(finish_reason)}}})}};
  if (with_usage_field) j["usage"] = nullptr;
  return j;
}

ojson completion_usage_chunk(const ResponseHead& h, const Usage& u) {
  return {{"id", h.id},       {"object", "text_completion"},    {"created", h.created},
          {"model", h.model}, {"system_fingerprint", "fathom"}, {"choices", ojson::array()},
          {"usage", usage_json(u)}};
}

ojson text_completion(const ResponseHead& h, const std::string& text, const std::string& finish, const Usage& u,
                      ojson logprobs) {
  return {{"id", h.id},
          {"object", "text_completion"},
          {"created", h.created},
          {"model", h.model},
          {"system_fingerprint", "fathom"},
          {"choices", ojson::array({{{"text", text}, {"index", 0}, {"logprobs", std::move(logprobs)},
                                     {"finish_reason", finish}}})},
          {"usage", usage_json(u)}};
}

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

std::string sse(const ojson& j) { return "data: " + dump(j) + "\n\n"; }

}  // namespace fathom::server
