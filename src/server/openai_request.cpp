#include "server/openai_request.h"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json.h"
#include "generation/json_schema.h"

namespace fathom::server {

namespace {

// The bounded parse (core/json.h): a body nested deeper than kMaxJsonDepth, with a repeated key or
// a number beyond a double is a 400 naming the field, before anything walks it recursively.
ojson parse_json(const std::string& body) {
  ojson j;
  try {
    j = parse_ordered_json(body, "the request body");
  } catch (const JsonError& e) {
    invalid(e.what(), e.field, "invalid_json");
  }
  if (!j.is_object()) invalid("the request body must be a JSON object", "", "invalid_json");
  return j;
}

// Typed getters: null counts as absent (the OpenAI client sends explicit nulls for unset values).
bool has(const ojson& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

double number(const ojson& j, const char* key, double lo, double hi) {
  const ojson& v = j[key];
  if (!v.is_number()) invalid(fmt::format("'{}' must be a number", key), key);
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) invalid(fmt::format("'{}' must be in [{}, {}] (got {})", key, lo, hi, x), key);
  return x;
}

int64_t integer(const ojson& j, const char* key, int64_t lo, int64_t hi) {
  const ojson& v = j[key];
  if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))
    invalid(fmt::format("'{}' must be an integer", key), key);
  const double x = v.get<double>();
  if (x < double(lo) || x > double(hi)) invalid(fmt::format("'{}' must be in [{}, {}] (got {})", key, lo, hi, x), key);
  return v.is_number_float() ? int64_t(x) : v.get<int64_t>();
}

bool boolean(const ojson& j, const char* key) {
  if (!j[key].is_boolean()) invalid(fmt::format("'{}' must be a boolean", key), key);
  return j[key].get<bool>();
}

void check_known(const ojson& j, const std::set<std::string>& known, const std::set<std::string>& unsupported) {
  for (auto& [k, v] : j.items()) {
    if (unsupported.count(k) && !v.is_null())
      invalid(fmt::format("'{}' is not supported by this server", k), k, "unsupported_parameter");
    if (!known.count(k) && !unsupported.count(k))
      invalid(fmt::format("unknown parameter '{}'", k), k, "unsupported_parameter");
  }
}

const std::set<std::string> kCommon = {"model", "stream", "stream_options", "max_tokens", "temperature", "top_p",
                                       "top_k", "min_p", "stop", "seed", "presence_penalty", "frequency_penalty",
                                       "repetition_penalty", "logprobs", "n", "logit_bias", "user",
                                       "ignore_eos", "stop_token_ids", "mtp"};

void parse_common(const ojson& j, GenerationParams& p) {
  if (!has(j, "model")) invalid("'model' is required", "model");
  if (!j["model"].is_string()) invalid("'model' must be a string", "model");
  p.model = j["model"].get<std::string>();
  if (has(j, "stream")) p.stream = boolean(j, "stream");
  if (has(j, "stream_options")) {
    const ojson& so = j["stream_options"];
    if (!so.is_object()) invalid("'stream_options' must be an object", "stream_options");
    if (!p.stream) invalid("'stream_options' is only allowed when 'stream' is true", "stream_options");
    for (auto& [k, v] : so.items())
      if (k != "include_usage") invalid(fmt::format("unknown stream option '{}'", k), "stream_options");
    if (has(so, "include_usage")) p.include_usage = boolean(so, "include_usage");
  }
  if (has(j, "n") && integer(j, "n", 1, 128) != 1) invalid("only n = 1 is supported", "n", "unsupported_parameter");

  // OpenAI's defaults: plain sampling at temperature 1, no truncation.
  SamplerParams& s = p.sampling;
  s = SamplerParams::plain(1.0f);
  if (has(j, "temperature")) s.temperature = float(number(j, "temperature", 0, 2));
  if (has(j, "top_p")) s.top_p = float(number(j, "top_p", 0, 1));
  if (has(j, "top_k")) s.top_k = int32_t(integer(j, "top_k", -1, 1 << 30));
  if (has(j, "min_p")) s.min_p = float(number(j, "min_p", 0, 1));
  if (has(j, "presence_penalty")) s.presence_penalty = float(number(j, "presence_penalty", -2, 2));
  if (has(j, "frequency_penalty")) s.frequency_penalty = float(number(j, "frequency_penalty", -2, 2));
  if (has(j, "repetition_penalty")) s.repeat_penalty = float(number(j, "repetition_penalty", 1e-3, 100));
  if (has(j, "seed")) {
    s.seed = uint64_t(integer(j, "seed", INT64_MIN, INT64_MAX));
    p.seed_given = true;
  }
  if (has(j, "max_tokens")) p.max_tokens = integer(j, "max_tokens", 1, INT32_MAX);

  if (has(j, "stop")) {
    const ojson& st = j["stop"];
    if (st.is_string()) {
      p.stop.push_back(st.get<std::string>());
    } else if (st.is_array()) {
      if (st.size() > 4) invalid("'stop' takes at most 4 sequences", "stop");
      for (auto& x : st) {
        if (!x.is_string()) invalid("'stop' must be a string or an array of strings", "stop");
        p.stop.push_back(x.get<std::string>());
      }
    } else {
      invalid("'stop' must be a string or an array of strings", "stop");
    }
    for (auto& x : p.stop)
      if (x.empty()) invalid("'stop' sequences must not be empty", "stop");
  }

  // vLLM's extensions, so the server offers what `fathom run --ignore-eos` does.
  if (has(j, "ignore_eos")) p.ignore_eos = boolean(j, "ignore_eos");
  // fathom's: with `serve --mtp`, `"mtp": false` decodes this request without drafts (same output).
  if (has(j, "mtp")) p.mtp = boolean(j, "mtp");
  if (has(j, "stop_token_ids")) {
    const ojson& ids = j["stop_token_ids"];
    if (!ids.is_array()) invalid("'stop_token_ids' must be an array of token ids", "stop_token_ids");
    for (auto& x : ids) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX)
        invalid("'stop_token_ids' must be an array of token ids", "stop_token_ids");
      p.stop_token_ids.push_back(int32_t(x.get<int64_t>()));
    }
  }

  if (has(j, "logit_bias")) {
    const ojson& lb = j["logit_bias"];
    if (!lb.is_object()) invalid("'logit_bias' must be an object mapping token ids to biases", "logit_bias");
    for (auto& [k, v] : lb.items()) {
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(k, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != k.size() || id < 0 || id > INT32_MAX)
        invalid(fmt::format("'logit_bias' key '{}' is not a token id", k), "logit_bias");
      if (!v.is_number() || v.get<double>() < -100 || v.get<double>() > 100)
        invalid(fmt::format("'logit_bias' value for token {} must be a number in [-100, 100]", k), "logit_bias");
      p.logit_bias.push_back({int32_t(id), float(v.get<double>())});
    }
  }
}

// A message's content: a string, null, or an array of text parts (joined).
ojson message_content(const ojson& m, size_t i) {
  const std::string param = fmt::format("messages[{}].content", i);
  if (!m.contains("content") || m["content"].is_null()) return nullptr;
  const ojson& c = m["content"];
  if (c.is_string()) return c;
  if (!c.is_array()) invalid(param + " must be a string or an array of content parts", param);
  std::string text;
  for (auto& part : c) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      invalid(param + " parts must be objects with a 'type'", param);
    const std::string type = part["type"].get<std::string>();
    if (type != "text") invalid(fmt::format("{}: content parts of type '{}' are not supported (text only)", param, type), param);
    if (!part.contains("text") || !part["text"].is_string()) invalid(param + " text parts need a string 'text'", param);
    text += part["text"].get<std::string>();
  }
  return text;
}

ojson parse_messages(const ojson& j) {
  if (!has(j, "messages")) invalid("'messages' is required", "messages");
  const ojson& ms = j["messages"];
  if (!ms.is_array() || ms.empty()) invalid("'messages' must be a non-empty array", "messages");
  ojson out = ojson::array();
  for (size_t i = 0; i < ms.size(); ++i) {
    const ojson& m = ms[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) invalid(at + " must be an object", at);
    if (!m.contains("role") || !m["role"].is_string()) invalid(at + ".role must be a string", at + ".role");
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      invalid(fmt::format("{}.role '{}' is not one of system, developer, user, assistant, tool", at, role), at + ".role");
    ojson msg = ojson::object();
    msg["role"] = role;
    ojson content = message_content(m, i);
    if (content.is_null() && !(role == "assistant" && has(m, "tool_calls")))
      invalid(at + ".content is required", at + ".content");
    msg["content"] = content.is_null() ? ojson("") : content;
    if (role == "assistant" && has(m, "reasoning_content")) {
      if (!m["reasoning_content"].is_string()) invalid(at + ".reasoning_content must be a string", at);
      msg["reasoning_content"] = m["reasoning_content"];
    }
    if (has(m, "tool_calls")) {
      if (role != "assistant") invalid(at + ": only assistant messages carry tool_calls", at + ".tool_calls");
      const ojson& tcs = m["tool_calls"];
      if (!tcs.is_array()) invalid(at + ".tool_calls must be an array", at + ".tool_calls");
      ojson calls = ojson::array();
      for (auto& tc : tcs) {
        if (!tc.is_object() || !tc.contains("function") || !tc["function"].is_object() ||
            !tc["function"].contains("name") || !tc["function"]["name"].is_string())
          invalid(at + ".tool_calls entries need function.name", at + ".tool_calls");
        ojson fn = tc["function"];
        if (!fn.contains("arguments") || fn["arguments"].is_null()) fn["arguments"] = "{}";
        if (!fn["arguments"].is_string()) fn["arguments"] = fn["arguments"].dump();
        calls.push_back({{"id", tc.value("id", "")}, {"type", "function"}, {"function", fn}});
      }
      msg["tool_calls"] = calls;
    }
    if (role == "tool") {
      if (has(m, "tool_call_id") && !m["tool_call_id"].is_string()) invalid(at + ".tool_call_id must be a string", at);
      if (has(m, "tool_call_id")) msg["tool_call_id"] = m["tool_call_id"];
    }
    if (has(m, "name") && m["name"].is_string()) msg["name"] = m["name"];
    out.push_back(msg);
  }
  return out;
}

ojson parse_tools(const ojson& j) {
  const ojson& ts = j["tools"];
  if (!ts.is_array()) invalid("'tools' must be an array", "tools");
  for (size_t i = 0; i < ts.size(); ++i) {
    const ojson& t = ts[i];
    const std::string at = fmt::format("tools[{}]", i);
    if (!t.is_object() || t.value("type", "") != "function") invalid(at + ".type must be \"function\"", at);
    if (!t.contains("function") || !t["function"].is_object() || !t["function"].contains("name") ||
        !t["function"]["name"].is_string())
      invalid(at + ".function.name must be a string", at);
  }
  return ts;
}

// response_format: text (nothing to do), json_object, or json_schema {name, schema, strict,
// description}. A schema outside the supported subset is a 400 naming the keyword and its place.
std::shared_ptr<const gen::CompiledSchema> parse_response_format(const ojson& rf) {
  const char* param = "response_format";
  if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string())
    invalid("'response_format' must be an object with a string 'type'", param);
  const std::string type = rf["type"].get<std::string>();
  if (type == "text") return nullptr;
  if (type == "json_object") return std::make_shared<const gen::CompiledSchema>(gen::json_object_schema());
  if (type != "json_schema")
    invalid(fmt::format("response_format type '{}' is not one of text, json_object, json_schema", type), param);
  if (!has(rf, "json_schema") || !rf["json_schema"].is_object())
    invalid("response_format of type json_schema needs a 'json_schema' object", param);
  const ojson& js = rf["json_schema"];
  for (auto& [k, v] : js.items())
    if (k != "name" && k != "schema" && k != "strict" && k != "description")
      invalid(fmt::format("unknown field 'response_format.json_schema.{}'", k), param);
  if (!has(js, "name") || !js["name"].is_string()) invalid("'response_format.json_schema.name' must be a string", param);
  if (has(js, "strict")) boolean(js, "strict");  // always strict: the output is decoded under the schema
  try {
    return std::make_shared<const gen::CompiledSchema>(gen::compile_json_schema(has(js, "schema") ? js["schema"] : ojson::object()));
  } catch (const Error& e) {
    invalid(fmt::format("response_format.json_schema.schema: {}", e.what()), param, "unsupported_schema");
  }
}

// tool_choice "required" or {"type": "function", "function": {"name"}}: the output is one call of
// an allowed tool, its arguments valid under the tool's `parameters` (any object when absent).
std::shared_ptr<const gen::CompiledSchema> required_tool_call(const ojson& tools, const std::string& only,
                                                              ToolCallFormat format) {
  std::vector<gen::WrappedSchema> calls;
  for (size_t i = 0; i < tools.size(); ++i) {
    const ojson& fn = tools[i]["function"];
    const std::string name = fn["name"].get<std::string>();
    if (!only.empty() && name != only) continue;
    auto [before, after] = tool_call_frame(format, name);
    const ojson params = has(fn, "parameters") ? fn["parameters"] : ojson{{"type", "object"}};
    calls.push_back({std::move(before), params, std::move(after), fmt::format("tools[{}].function.parameters", i)});
  }
  if (calls.empty()) invalid(fmt::format("tool_choice names the function '{}', which 'tools' does not offer", only), "tool_choice");
  try {
    return std::make_shared<const gen::CompiledSchema>(gen::compile_wrapped_schemas(calls));
  } catch (const Error& e) {
    invalid(e.what(), "tools", "unsupported_schema");
  }
}

}  // namespace

[[noreturn]] void invalid(std::string message, std::string param, std::string code) {
  throw ApiError(400, std::move(message), "invalid_request_error", std::move(param), std::move(code));
}

ojson error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.what()},
            {"type", e.type},
            {"param", e.param.empty() ? ojson(nullptr) : ojson(e.param)},
            {"code", e.code.empty() ? ojson(nullptr) : ojson(e.code)}}}};
}

ChatRequest parse_chat_request(const std::string& body, ToolCallFormat tool_format) {
  const ojson j = parse_json(body);
  std::set<std::string> known = kCommon;
  known.insert({"messages", "max_completion_tokens", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls",
                "response_format", "chat_template_kwargs"});
  check_known(j, known, {"functions", "function_call", "audio", "modalities", "prediction", "web_search_options"});
  ChatRequest r;
  parse_common(j, r);
  r.messages = parse_messages(j);
  if (has(j, "max_completion_tokens")) r.max_tokens = integer(j, "max_completion_tokens", 1, INT32_MAX);
  if (has(j, "logprobs")) r.logprobs = boolean(j, "logprobs");
  if (has(j, "top_logprobs")) {
    r.top_logprobs = int(integer(j, "top_logprobs", 0, 20));
    if (!r.logprobs) invalid("'top_logprobs' needs 'logprobs': true", "top_logprobs");
  }
  if (has(j, "response_format")) r.json_schema = parse_response_format(j["response_format"]);
  if (has(j, "chat_template_kwargs")) {
    if (!j["chat_template_kwargs"].is_object()) invalid("'chat_template_kwargs' must be an object", "chat_template_kwargs");
    r.template_kwargs = j["chat_template_kwargs"];
  }
  std::string choice = "auto", named;
  if (has(j, "tool_choice")) {
    const ojson& tc = j["tool_choice"];
    if (tc.is_object()) {
      if (tc.value("type", "") != "function" || !has(tc, "function") || !tc["function"].is_object() ||
          !has(tc["function"], "name") || !tc["function"]["name"].is_string())
        invalid("tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                "tool_choice");
      choice = "function";
      named = tc["function"]["name"].get<std::string>();
    } else {
      if (!tc.is_string()) invalid("tool_choice must be a string or an object", "tool_choice");
      choice = tc.get<std::string>();
      if (choice != "auto" && choice != "none" && choice != "required")
        invalid("tool_choice must be \"auto\", \"none\", \"required\" or a named function", "tool_choice");
    }
  }
  if (has(j, "tools")) {
    ojson tools = parse_tools(j);
    if (choice != "none" && !tools.empty()) r.tools = std::move(tools);
  }
  if (choice == "required" || choice == "function") {
    if (r.tools.is_null()) invalid(fmt::format("tool_choice \"{}\" needs a non-empty 'tools'", choice), "tool_choice");
    if (r.json_schema)
      invalid("a required tool call cannot be combined with a JSON response_format", "response_format", "unsupported_parameter");
    r.json_schema = required_tool_call(r.tools, named, tool_format);
    r.tool_call_required = true;
  }
  if (has(j, "parallel_tool_calls")) boolean(j, "parallel_tool_calls");
  return r;
}

CompletionRequest parse_completion_request(const std::string& body) {
  const ojson j = parse_json(body);
  std::set<std::string> known = kCommon;
  known.insert({"prompt", "echo", "best_of"});
  check_known(j, known, {"suffix"});
  CompletionRequest r;
  parse_common(j, r);
  if (!has(j, "prompt")) invalid("'prompt' is required", "prompt");
  const ojson& p = j["prompt"];
  auto token_ids = [&](const ojson& a) {
    for (auto& x : a) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX)
        invalid("'prompt' token ids must be non-negative integers", "prompt");
      r.prompt_tokens.push_back(int32_t(x.get<int64_t>()));
    }
  };
  if (p.is_string()) {
    r.prompt = p.get<std::string>();
  } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
    r.prompt = p[0].get<std::string>();
  } else if (p.is_array() && !p.empty() && p[0].is_number()) {
    token_ids(p);
  } else if (p.is_array() && p.size() == 1 && p[0].is_array()) {
    token_ids(p[0]);
  } else {
    invalid("'prompt' must be a string, a one-element array of strings, or an array of token ids (one prompt per request)",
            "prompt");
  }
  if (has(j, "echo") && boolean(j, "echo")) invalid("'echo' is not supported", "echo", "unsupported_parameter");
  if (has(j, "best_of") && integer(j, "best_of", 1, 128) != 1) invalid("only best_of = 1 is supported", "best_of", "unsupported_parameter");
  if (has(j, "logprobs")) {  // completions: an integer, the number of alternatives
    if (j["logprobs"].is_boolean()) {
      r.logprobs = j["logprobs"].get<bool>();
    } else {
      r.top_logprobs = int(integer(j, "logprobs", 0, 5));
      r.logprobs = true;
    }
  }
  return r;
}

ojson parse_object(const std::string& body) { return parse_json(body); }

}  // namespace fathom::server
