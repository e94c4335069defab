// The bounded JSON reader (core/json.h) and every file and request that goes through it: nesting
// past kMaxJsonDepth, a repeated key, an overflowing number or a malformed structure is a clear
// error naming the source and field. Before, deep nesting crashed with a stack overflow (in the
// server: a remote kill), and malformed files surfaced nlohmann's raw "[json.exception...]" text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "server/openai_request.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace fathom;
using nlohmann::json;

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR_CONTAINS(stmt, ...)                                                          \
  do {                                                                                            \
    std::string msg = error_of([&] { stmt; });                                                    \
    for (const std::string& part : std::initializer_list<std::string>{__VA_ARGS__})              \
      EXPECT_NE(msg.find(part), std::string::npos) << msg;                                        \
    EXPECT_EQ(msg.find("json.exception"), std::string::npos) << msg;                              \
  } while (0)

std::string nested(int levels, const std::string& open = "[", const std::string& close = "]") {
  std::string s;
  for (int k = 0; k < levels; ++k) s += open;
  s += "1";
  for (int k = 0; k < levels; ++k) s += close;
  return s;
}

std::string nested_object(int levels) {
  std::string s;
  for (int k = 0; k < levels; ++k) s += "{\"a\":";
  s += "1";
  for (int k = 0; k < levels; ++k) s += "}";
  return s;
}

void write_safetensors(const std::string& path, const std::string& header, size_t data_bytes) {
  std::ofstream f(path, std::ios::binary);
  uint64_t len = header.size();
  f.write(reinterpret_cast<const char*>(&len), 8);
  f << header << std::string(data_bytes, '\0');
}

server::ApiError api_error_of(const std::string& body) {
  try {
    server::parse_chat_request(body);
  } catch (const server::ApiError& e) {
    return e;
  }
  return server::ApiError(0, "(no error)");
}

}  // namespace

TEST(JsonBounded, DepthLimit) {
  EXPECT_NO_THROW(parse_json(nested(kMaxJsonDepth - 1), "x.json"));
  EXPECT_ERROR_CONTAINS(parse_json(nested(kMaxJsonDepth + 1), "x.json"), "x.json", "nested deeper than 128");
  EXPECT_ERROR_CONTAINS(parse_json(nested(100000), "x.json"), "x.json", "nested deeper than 128");
  EXPECT_ERROR_CONTAINS(parse_ordered_json(nested_object(100000), "body"), "body", "nested deeper", "'a.a.a");
}

TEST(JsonBounded, RepeatedKeyAndOverflowNameTheField) {
  std::string e = error_of([] { parse_json(R"({"a": {"b": 1, "c": 2, "b": 3}})", "f.json"); });
  EXPECT_NE(e.find("key 'b' appears twice"), std::string::npos) << e;
  EXPECT_NE(e.find("'a.b'"), std::string::npos) << e;
  try {
    parse_json(R"({"x": [1, 2, {"max_tokens": 1e400}]})", "f.json");
    FAIL() << "no error";
  } catch (const JsonError& err) {
    EXPECT_EQ(err.field, "x[2].max_tokens");
    EXPECT_EQ(std::string(err.what()).find("json.exception"), std::string::npos) << err.what();
  }
}

TEST(JsonBounded, SyntaxErrorsAreShortAndPositioned) {
  const std::string huge_token = "\"" + std::string(1 << 20, 'x');  // an unterminated 1 MB string
  std::string e = error_of([&] { parse_json(huge_token, "big.json"); });
  EXPECT_NE(e.find("big.json: not valid JSON at line 1"), std::string::npos) << e;
  EXPECT_LT(e.size(), 300u) << "the message must not quote the input at length";
  EXPECT_ERROR_CONTAINS(parse_json("{\n  \"a\": tru }", "c.json"), "c.json", "line 2, column");
}

TEST(JsonBounded, ReadTextFileNamesADirectory) {
  std::string d = test::scratch_dir("json_dir");
  EXPECT_ERROR_CONTAINS(read_text_file(d), d, "is a directory");
  EXPECT_ERROR_CONTAINS(read_text_file(d + "/missing"), "missing", "cannot open");
}

TEST(JsonBounded, JsonFieldMessages) {
  json doc = json::parse(R"({"model": {"vocab": [1], "n": 5000000000, "s": "abc"}})");
  JsonField root(doc, "tokenizer.json");
  EXPECT_ERROR_CONTAINS(root["model"]["vocab"].expect_object(), "tokenizer.json: 'model.vocab': must be an object",
                        "an array of 1");
  EXPECT_ERROR_CONTAINS(root["model"]["n"].integer(0, INT32_MAX), "'model.n'", "[0, 2147483647]", "5000000000");
  EXPECT_ERROR_CONTAINS(root["model"].required("merges"), "'model.merges': is required");
  EXPECT_ERROR_CONTAINS(root["model"]["s"].boolean(), "'model.s'", "true or false", "\"abc\"");
  EXPECT_EQ(root["model"]["n"].integer(0, INT64_MAX), 5000000000);
}

TEST(JsonBounded, RequestNestedDeepIsA400) {
  const std::string msgs = R"("messages": [{"role": "user", "content": "hi"}])";
  // About 200 KB each, the size that killed the server.
  const std::string tools = R"({"model": "m", )" + msgs +
                            R"(, "tools": [{"type": "function", "function": {"name": "f", "parameters": )" +
                            nested_object(50000) + "}}]}";
  server::ApiError e = api_error_of(tools);
  EXPECT_EQ(e.status, 400);
  EXPECT_NE(std::string(e.what()).find("nested deeper than 128"), std::string::npos) << e.what();
  EXPECT_EQ(e.param.rfind("tools[0].function.parameters", 0), 0u) << e.param;

  const std::string kwargs = R"({"model": "m", )" + msgs + R"(, "chat_template_kwargs": )" + nested(100000) + "}";
  e = api_error_of(kwargs);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param.rfind("chat_template_kwargs[0][0]", 0), 0u) << e.param;
}

TEST(JsonBounded, RequestNumberOverflowNamesTheField) {
  server::ApiError e =
      api_error_of(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400})");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "max_tokens");
  EXPECT_NE(std::string(e.what()).find("max_tokens"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos) << e.what();
}

TEST(JsonBounded, SafetensorsHeader) {
  std::string d = test::scratch_dir("json_st");
  std::string p = d + "/deep.safetensors";
  write_safetensors(p, nested_object(100000), 0);
  EXPECT_ERROR_CONTAINS(io::SafetensorsFile{p}, "deep.safetensors", "nested deeper than 128");
  p = d + "/twice.safetensors";
  write_safetensors(p,
                    R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                    R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                    8);
  EXPECT_ERROR_CONTAINS(io::SafetensorsFile{p}, "twice.safetensors", "'w' appears twice");
}

TEST(JsonBounded, ConfigAndIndexFiles) {
  std::string src = test::synth_model("tiny-v3", SynthDType::BF16);
  std::string d = test::scratch_dir("json_cfg");
  for (auto& e : fs::directory_iterator(src)) fs::copy(e.path(), fs::path(d) / e.path().filename());
  const std::string config = d + "/config.json";
  const std::string good = read_text_file(config);

  std::ofstream(config) << "{\"model_type\": " << nested(100000) << "}";
  EXPECT_ERROR_CONTAINS(Model::load(d), "config.json", "nested deeper than 128", "'model_type");

  json c = json::parse(good);
  c["hidden_size"] = json::array({std::string(100000, 'x')});
  std::ofstream(config) << c.dump();
  std::string e = error_of([&] { Model::load(d); });
  EXPECT_NE(e.find("'hidden_size' must be an integer, got an array of 1"), std::string::npos) << e;
  EXPECT_LT(e.size(), 400u);

  std::ofstream(config) << good;
  if (fs::exists(d + "/model.safetensors.index.json")) {
    std::ofstream(d + "/model.safetensors.index.json") << R"({"weight_map": {"a": "x", "a": "y"}})";
    EXPECT_ERROR_CONTAINS(Model::load(d), "model.safetensors.index.json", "'a' appears twice");
  }
}
