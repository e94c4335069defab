// OpenAI request bodies (chat completions, completions) parsed and validated into plain structs.
// Every problem throws ApiError naming the parameter, so a client gets a 400 that says what is
// wrong; a parameter fathom does not implement is refused the same way rather than ignored.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "generation/sampler.h"
#include "server/tool_calls.h"

namespace fathom::gen {
struct CompiledSchema;
}

namespace fathom::server {

using ojson = nlohmann::ordered_json;

// An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError : std::runtime_error {
  int status;
  std::string type, param, code;
  ApiError(int status, std::string message, std::string type = "invalid_request_error", std::string param = "",
           std::string code = "")
      : std::runtime_error(std::move(message)), status(status), type(std::move(type)), param(std::move(param)),
        code(std::move(code)) {}
};
[[noreturn]] void invalid(std::string message, std::string param = "", std::string code = "");
ojson error_body(const ApiError& e);

// What chat and text completions share.
struct GenerationParams {
  std::string model;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int64_t max_tokens = -1;     // max_tokens / max_completion_tokens; -1: up to the context
  SamplerParams sampling;      // OpenAI defaults: temperature 1, top_p 1, top_k / min_p off
  bool seed_given = false;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;  // vLLM's extension: more tokens that end the answer
  bool ignore_eos = false;              // vLLM's extension: generate past the EOS token
  bool mtp = true;                      // fathom's: false opts out of MTP drafting (serve --mtp)
  std::vector<std::pair<int32_t, float>> logit_bias;
  bool logprobs = false;
  int top_logprobs = 0;
  // Structured output (chat's response_format json_object / json_schema, or a tool_choice that
  // requires a call): the schema the output is decoded under. Null: free text.
  std::shared_ptr<const gen::CompiledSchema> json_schema;
};

struct ChatRequest : GenerationParams {
  ojson messages;            // as the chat template expects them (content parts joined)
  ojson tools;               // null when none offered (or tool_choice "none")
  bool tool_call_required = false;  // tool_choice "required" or a named function: json_schema is
                                    // one call of the allowed tools, in `tool_format`
  ojson template_kwargs = ojson::object();  // chat_template_kwargs (e.g. {"thinking": true})
};

struct CompletionRequest : GenerationParams {
  std::string prompt;                  // text, encoded with the tokenizer's BOS
  std::vector<int32_t> prompt_tokens;  // or token ids, used as given
};

// Throw ApiError (400) for invalid JSON, a wrong type or range, or an unsupported parameter (a
// JSON-schema keyword outside the supported subset included, named with its place). A required
// tool call is constrained to `tool_format`, the model's form of a call (tool_call_format()).
ChatRequest parse_chat_request(const std::string& body, ToolCallFormat tool_format = ToolCallFormat::V3);
CompletionRequest parse_completion_request(const std::string& body);

// A JSON object body (for /tokenize and /detokenize); 400 when it is not one.
ojson parse_object(const std::string& body);

}  // namespace fathom::server
