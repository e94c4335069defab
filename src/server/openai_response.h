// Response bodies and stream chunks shaped exactly as OpenAI's: chat.completion,
// chat.completion.chunk, text_completion, usage and logprobs objects. Pure functions of their
// inputs (ids and timestamps are passed in), so tests can compare whole objects.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "generation/generator.h"
#include "server/chat_output.h"
#include "server/openai_request.h"
#include "server/scheduler.h"

namespace fathom::tok { class Tokenizer; }

namespace fathom::server {

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};
ojson usage_json(const Usage& u);

// "stop" (EOS or a stop string), "length" (max_tokens or a full context), "tool_calls".
std::string finish_reason(FinishReason r, bool tool_calls);

// Chat form {"content": [{token, logprob, bytes, top_logprobs}]}.
ojson chat_logprobs(const tok::Tokenizer& tok, const std::vector<TokenLogprob>& lps);
// Completions form {tokens, token_logprobs, top_logprobs, text_offset}; text_offset counts on from `offset`.
ojson completion_logprobs(const tok::Tokenizer& tok, const std::vector<TokenLogprob>& lps, size_t offset);

// Who a response belongs to: the same id / created / model on every chunk of a stream.
struct ResponseHead {
  std::string id;
  int64_t created = 0;
  std::string model;
};

// A new id: prefix + 24 random alphanumerics ("chatcmpl-", "cmpl-", "call_").
std::string random_id(const std::string& prefix);

// One streamed chat delta as the `delta` object; tool call ids come from `call_ids` (by index).
ojson chat_delta(const ChatDelta& d, const std::vector<std::string>& call_ids);

ojson chat_chunk(const ResponseHead& h, ojson delta, ojson logprobs, ojson finish_reason, bool with_usage_field);
ojson chat_usage_chunk(const ResponseHead& h, const Usage& u);  // the include_usage chunk: choices []
ojson chat_completion(const ResponseHead& h, const ChatMessageOut& msg, const std::vector<std::string>& call_ids,
                      const std::string& finish, const Usage& u, ojson logprobs);

ojson completion_chunk(const ResponseHead& h, const std::string& text, ojson logprobs, ojson finish_reason,
                       bool with_usage_field);
ojson completion_usage_chunk(const ResponseHead& h, const Usage& u);
ojson text_completion(const ResponseHead& h, const std::string& text, const std::string& finish, const Usage& u,
                      ojson logprobs);

// "data: {json}\n\n" — invalid UTF-8 (never expected) is replaced, not thrown on.
std::string sse(const ojson& j);
std::string dump(const ojson& j);

}  // namespace fathom::server
