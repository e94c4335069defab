// OpenAI request validation and response shaping (no model, no HTTP).
#include <gtest/gtest.h>

#include <string>

#include "server/openai_request.h"
#include "server/openai_response.h"

namespace fathom::server {
namespace {

// The ApiError a body raises (status 0 when it parses).
ApiError error_of(const std::string& body, bool chat = true) {
  try {
    if (chat)
      parse_chat_request(body);
    else
      parse_completion_request(body);
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "");
}

TEST(ServerRequest, ChatDefaultsAndFields) {
  ChatRequest r = parse_chat_request(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_EQ(r.model, "m");
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.max_tokens, -1);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_TRUE(r.tools.is_null());

  r = parse_chat_request(R"({"model": "m", "stream": true, "stream_options": {"include_usage": true},
    "messages": [{"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                 {"role": "user", "content": "hi"}],
    "temperature": 0, "top_p": 0.5, "top_k": 7, "min_p": 0.1, "max_completion_tokens": 12, "seed": 3,
    "stop": ["x", "y"], "presence_penalty": 1.5, "frequency_penalty": -1, "logprobs": true, "top_logprobs": 2,
    "logit_bias": {"5": 10, "7": -100}, "n": 1, "user": "u",
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}], "tool_choice": "auto"})");
  EXPECT_TRUE(r.stream && r.include_usage);
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[0]["content"], "ab");
  EXPECT_EQ(r.max_tokens, 12);
  EXPECT_EQ(r.sampling.top_k, 7);
  EXPECT_EQ(r.sampling.seed, 3u);
  EXPECT_TRUE(r.seed_given);
  EXPECT_EQ(r.stop.size(), 2u);
  EXPECT_EQ(r.top_logprobs, 2);
  ASSERT_EQ(r.logit_bias.size(), 2u);
  EXPECT_EQ(r.logit_bias[1].first, 7);
  EXPECT_FLOAT_EQ(r.logit_bias[1].second, -100.0f);
  EXPECT_EQ(r.tools.size(), 1u);

  // tool_choice "none": the tools are neither rendered nor parsed.
  r = parse_chat_request(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}],
    "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"})");
  EXPECT_TRUE(r.tools.is_null());
}

TEST(ServerRequest, ToolHistory) {
  ChatRequest r = parse_chat_request(R"({"model": "m", "messages": [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
       "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]})");
  EXPECT_EQ(r.messages[1]["content"], "");
  EXPECT_EQ(r.messages[1]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(r.messages[2]["tool_call_id"], "call_1");
}

TEST(ServerRequest, InvalidBodiesName400AndParam) {
  struct Case {
    std::string body, param;
  };
  const std::string msgs = R"("messages": [{"role": "user", "content": "hi"}])";
  const Case cases[] = {
      {"not json", ""},
      {"[1, 2]", ""},
      {R"({"messages": [{"role": "user", "content": "hi"}]})", "model"},
      {R"({"model": "m"})", "messages"},
      {R"({"model": "m", "messages": []})", "messages"},
      {R"({"model": "m", "messages": [{"role": "wizard", "content": "x"}]})", "messages[0].role"},
      {R"({"model": "m", "messages": [{"role": "user"}]})", "messages[0].content"},
      {R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", "messages[0].content"},
      {R"({"model": "m", )" + msgs + R"(, "temperature": 3})", "temperature"},
      {R"({"model": "m", )" + msgs + R"(, "temperature": "hot"})", "temperature"},
      {R"({"model": "m", )" + msgs + R"(, "top_p": 1.5})", "top_p"},
      {R"({"model": "m", )" + msgs + R"(, "max_tokens": 0})", "max_tokens"},
      {R"({"model": "m", )" + msgs + R"(, "max_tokens": 1.5})", "max_tokens"},
      {R"({"model": "m", )" + msgs + R"(, "n": 2})", "n"},
      {R"({"model": "m", )" + msgs + R"(, "stop": 5})", "stop"},
      {R"({"model": "m", )" + msgs + R"(, "stop": ["a","b","c","d","e"]})", "stop"},
      {R"({"model": "m", )" + msgs + R"(, "logit_bias": {"x": 1}})", "logit_bias"},
      {R"({"model": "m", )" + msgs + R"(, "logit_bias": {"1": 101}})", "logit_bias"},
      {R"({"model": "m", )" + msgs + R"(, "top_logprobs": 2})", "top_logprobs"},
      {R"({"model": "m", )" + msgs + R"(, "stream_options": {"include_usage": true}})", "stream_options"},
      {R"({"model": "m", )" + msgs + R"(, "response_format": {"type": "yaml"}})", "response_format"},
      {R"({"model": "m", )" + msgs + R"(, "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}})",
       "response_format"},
      {R"({"model": "m", )" + msgs + R"(, "response_format": {"type": "json_schema",
         "json_schema": {"name": "x", "schema": {"properties": {"a": {"oneOf": []}}}}}})", "response_format"},
      {R"({"model": "m", )" + msgs + R"(, "tool_choice": "required"})", "tool_choice"},
      {R"({"model": "m", )" + msgs + R"(, "tool_choice": {"type": "function", "function": {"name": "g"}},
         "tools": [{"type": "function", "function": {"name": "f"}}]})", "tool_choice"},
      {R"({"model": "m", )" + msgs + R"(, "tool_choice": "required",
         "tools": [{"type": "function", "function": {"name": "f", "parameters": {"$ref": "#/x"}}}]})", "tools"},
      {R"({"model": "m", )" + msgs + R"(, "tool_choice": "required", "response_format": {"type": "json_object"},
         "tools": [{"type": "function", "function": {"name": "f"}}]})", "response_format"},
      {R"({"model": "m", )" + msgs + R"(, "tools": [{"type": "retrieval"}]})", "tools[0]"},
      {R"({"model": "m", )" + msgs + R"(, "functions": []})", "functions"},
      {R"({"model": "m", )" + msgs + R"(, "frobnicate": 1})", "frobnicate"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.body);
    ApiError e = error_of(c.body);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.type, "invalid_request_error");
    ojson body = error_body(e);
    EXPECT_TRUE(body["error"]["message"].is_string());
    EXPECT_TRUE(body["error"].contains("code"));
  }
}

TEST(ServerRequest, StructuredOutputs) {
  const std::string head = R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], )";
  EXPECT_EQ(parse_chat_request(head + R"("response_format": {"type": "text"}})").json_schema, nullptr);
  EXPECT_NE(parse_chat_request(head + R"("response_format": {"type": "json_object"}})").json_schema, nullptr);
  const ChatRequest r = parse_chat_request(head + R"("response_format": {"type": "json_schema", "json_schema":
      {"name": "p", "strict": true, "schema": {"type": "object", "properties": {"b": {"type": "integer"}}}}}})");
  ASSERT_NE(r.json_schema, nullptr);
  EXPECT_FALSE(r.tool_call_required);
  // The error names the keyword and where it is.
  const ApiError e = error_of(head + R"("response_format": {"type": "json_schema", "json_schema":
      {"name": "p", "schema": {"properties": {"a": {"type": "string", "format": "email"}}}}}})");
  EXPECT_NE(std::string(e.what()).find("properties.a: 'format' is not supported"), std::string::npos) << e.what();
  const ApiError t = error_of(head + R"("tool_choice": "required", "tools": [{"type": "function",
      "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"not": {}}}}}}]})");
  EXPECT_NE(std::string(t.what()).find("tools[0].function.parameters.properties.x: 'not' is not supported"),
            std::string::npos) << t.what();

  const std::string tools = R"("tools": [{"type": "function", "function": {"name": "f"}},
      {"type": "function", "function": {"name": "g", "parameters": {"type": "object"}}}])";
  const ChatRequest req = parse_chat_request(head + R"("tool_choice": "required", )" + tools + "}");
  EXPECT_TRUE(req.tool_call_required);
  EXPECT_NE(req.json_schema, nullptr);
  EXPECT_FALSE(req.tools.is_null());
  const ChatRequest named =
      parse_chat_request(head + R"("tool_choice": {"type": "function", "function": {"name": "g"}}, )" + tools + "}");
  EXPECT_TRUE(named.tool_call_required);
}

TEST(ServerRequest, Completions) {
  CompletionRequest r = parse_completion_request(R"({"model": "m", "prompt": "Once", "logprobs": 2, "max_tokens": 5})");
  EXPECT_EQ(r.prompt, "Once");
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 2);
  r = parse_completion_request(R"({"model": "m", "prompt": [1, 2, 3]})");
  EXPECT_EQ(r.prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(error_of(R"({"model": "m", "prompt": ["a", "b"]})", false).param, "prompt");
  EXPECT_EQ(error_of(R"({"model": "m", "prompt": "a", "echo": true})", false).param, "echo");
  EXPECT_EQ(error_of(R"({"model": "m", "prompt": "a", "suffix": "z"})", false).param, "suffix");
  EXPECT_EQ(error_of(R"({"model": "m"})", false).param, "prompt");
}

TEST(ServerResponse, ChatShapes) {
  const ResponseHead h{"chatcmpl-x", 123, "tiny"};
  ojson chunk = chat_chunk(h, chat_delta({ChatDelta::Kind::Content, 0, "Hi"}, {}), nullptr, nullptr, true);
  EXPECT_EQ(chunk["object"], "chat.completion.chunk");
  EXPECT_EQ(chunk["choices"][0]["delta"]["content"], "Hi");
  EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(chunk.contains("usage") && chunk["usage"].is_null());

  ojson tool = chat_delta({ChatDelta::Kind::ToolBegin, 1, "get_weather"}, {"call_a", "call_b"});
  EXPECT_EQ(tool["tool_calls"][0]["index"], 1);
  EXPECT_EQ(tool["tool_calls"][0]["id"], "call_b");
  EXPECT_EQ(tool["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(tool["tool_calls"][0]["function"]["arguments"], "");
  EXPECT_EQ(chat_delta({ChatDelta::Kind::Reasoning, 0, "r"}, {})["reasoning_content"], "r");

  ChatMessageOut msg;
  msg.reasoning = "think";
  msg.tool_calls.push_back({"f", "{}"});
  ojson full = chat_completion(h, msg, {"call_1"}, finish_reason(FinishReason::Eos, true), {10, 5, 4}, nullptr);
  EXPECT_EQ(full["object"], "chat.completion");
  EXPECT_EQ(full["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_TRUE(full["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(full["choices"][0]["message"]["reasoning_content"], "think");
  EXPECT_EQ(full["choices"][0]["message"]["tool_calls"][0]["id"], "call_1");
  EXPECT_EQ(full["usage"]["total_tokens"], 15);
  EXPECT_EQ(full["usage"]["prompt_tokens_details"]["cached_tokens"], 4);

  EXPECT_EQ(finish_reason(FinishReason::MaxTokens, false), "length");
  EXPECT_EQ(finish_reason(FinishReason::ContextFull, true), "length");
  EXPECT_EQ(finish_reason(FinishReason::StopString, false), "stop");
  EXPECT_EQ(chat_usage_chunk(h, {1, 2, 0})["choices"].size(), 0u);
  EXPECT_EQ(sse(ojson{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(dump(ojson("\xff")), "\"\xEF\xBF\xBD\"");  // invalid UTF-8 is replaced, not thrown on
}

}  // namespace
}  // namespace fathom::server
