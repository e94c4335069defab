// The server's output parsers: DeepSeek tool-call grammar (both forms, streamed in every split) and
// the reasoning / content / tool-call split of a chat answer.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "generation/json_schema.h"
#include "generation/json_schema_matcher.h"
#include "server/chat_output.h"
#include "server/tool_calls.h"

namespace fathom::server {
namespace {

const std::string B = std::string(kToolCallsBegin), E = std::string(kToolCallsEnd), CB = std::string(kToolCallBegin),
                  CE = std::string(kToolCallEnd), SEP = std::string(kToolSep);

ChatMessageOut parse_in_pieces(const std::string& text, size_t piece, bool in_reasoning = false, bool tools = true) {
  ChatOutputParser p(in_reasoning, tools);
  ChatMessageOut m;
  for (size_t i = 0; i < text.size(); i += piece) apply_deltas(m, p.push(text.substr(i, piece)));
  apply_deltas(m, p.flush());
  return m;
}

// Every piece size, so markers and fences are split at every byte.
template <typename Check>
void for_all_splits(const std::string& text, Check check, bool in_reasoning = false, bool tools = true) {
  for (size_t piece = 1; piece <= text.size(); ++piece) {
    SCOPED_TRACE("piece size " + std::to_string(piece));
    check(parse_in_pieces(text, piece, in_reasoning, tools));
  }
}

TEST(ServerToolCalls, V3FormWithFence) {
  const std::string text = "Let me check." + B + CB + "function" + SEP + "get_weather\n```json\n{\"city\": \"Paris\"}\n```" +
                           CE + CB + "function" + SEP + "get_time\n```json\n{}\n```" + CE + E;
  for_all_splits(text, [](const ChatMessageOut& m) {
    EXPECT_EQ(m.content, "Let me check.");
    ASSERT_EQ(m.tool_calls.size(), 2u);
    EXPECT_EQ(m.tool_calls[0].name, "get_weather");
    EXPECT_EQ(m.tool_calls[0].arguments, "{\"city\": \"Paris\"}");
    EXPECT_EQ(m.tool_calls[1].name, "get_time");
    EXPECT_EQ(m.tool_calls[1].arguments, "{}");
  });
}

TEST(ServerToolCalls, V31Form) {
  const std::string text = B + CB + "search" + SEP + "{\"q\": \"a `b` c\"}" + CE + E;
  for_all_splits(text, [](const ChatMessageOut& m) {
    EXPECT_EQ(m.content, "");
    ASSERT_EQ(m.tool_calls.size(), 1u);
    EXPECT_EQ(m.tool_calls[0].name, "search");
    EXPECT_EQ(m.tool_calls[0].arguments, "{\"q\": \"a `b` c\"}");
  });
}

// What tool_choice "required" constrains the output to (tool_call_frame around the arguments) is
// what the parser reads back as one call, in both forms; the compiled frame accepts exactly it.
TEST(ServerToolCalls, RequiredCallFrameParsesBack) {
  EXPECT_EQ(tool_call_format("{{ '<｜tool▁call▁begin｜>' + name + '<｜tool▁sep｜>' + args }}"), ToolCallFormat::V31);
  EXPECT_EQ(tool_call_format("{{ '<｜tool▁sep｜>' + name + '\\n```json\\n' }}"), ToolCallFormat::V3);
  EXPECT_EQ(tool_call_format("{{ bos_token }}"), ToolCallFormat::V3);
  const std::string args = R"({"city": "Paris", "days": 3})";
  for (ToolCallFormat f : {ToolCallFormat::V3, ToolCallFormat::V31}) {
    const auto [before, after] = tool_call_frame(f, "get_weather");
    for_all_splits(before + args + after, [&](const ChatMessageOut& m) {
      EXPECT_EQ(m.content, "");
      ASSERT_EQ(m.tool_calls.size(), 1u);
      EXPECT_EQ(m.tool_calls[0].name, "get_weather");
      EXPECT_EQ(m.tool_calls[0].arguments, args);
    });
    const auto [other_before, other_after] = tool_call_frame(f, "get_time");
    const gen::CompiledSchema s = gen::compile_wrapped_schemas(
        {{before, nlohmann::ordered_json::parse(R"({"type": "object", "properties": {"city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1}}, "required": ["city"], "additionalProperties": false})"),
          after, "tools[0]"},
         {other_before, nlohmann::ordered_json::object(), other_after, "tools[1]"}});
    const gen::JsonSchemaMatcher m(s);
    auto accepts = [&](const std::string& text) {
      gen::JsonSchemaMatcher::State st = m.start();
      return m.advance(st, text) && m.is_complete(st);
    };
    EXPECT_TRUE(accepts(before + args + after));
    EXPECT_TRUE(accepts(other_before + "[1]" + other_after));  // the other tool, any value
    EXPECT_FALSE(accepts(before + R"({"days": 3})" + after));    // city is required
    EXPECT_FALSE(accepts(before + R"({"city": "P", "days": 0})" + after));
    EXPECT_FALSE(accepts(before + args));  // not closed
    EXPECT_FALSE(accepts(args));           // no call
    EXPECT_FALSE(accepts(" " + before + args + after));  // nothing around the call
    EXPECT_FALSE(accepts(before + args + after + "\n"));
  }
}

TEST(ServerToolCalls, ReasoningThenToolCall) {
  const std::string text = "<think>\nThe user wants weather.\n</think>\n\n" + B + CB + "function" + SEP +
                           "get_weather\n```json\n{\"city\": \"Oslo\"}\n```" + CE + E;
  for_all_splits(text, [](const ChatMessageOut& m) {
    EXPECT_EQ(m.reasoning, "The user wants weather.\n");
    EXPECT_EQ(m.content, "");
    ASSERT_EQ(m.tool_calls.size(), 1u);
    EXPECT_EQ(m.tool_calls[0].arguments, "{\"city\": \"Oslo\"}");
  });
}

TEST(ServerToolCalls, WithoutToolsTheBlockIsContent) {
  const std::string text = B + CB + "f" + SEP + "{}" + CE + E;
  auto m = parse_in_pieces(text, 3, false, false);
  EXPECT_EQ(m.content, text);
  EXPECT_TRUE(m.tool_calls.empty());
}

TEST(ServerToolCalls, TruncatedCallKeepsWhatArrived) {
  // max_tokens cut the call: the name and the arguments so far are still reported.
  const std::string text = B + CB + "function" + SEP + "get_weather\n```json\n{\"city\": \"Pa";
  auto m = parse_in_pieces(text, 5);
  ASSERT_EQ(m.tool_calls.size(), 1u);
  EXPECT_EQ(m.tool_calls[0].name, "get_weather");
  EXPECT_EQ(m.tool_calls[0].arguments, "{\"city\": \"Pa");
}

TEST(ServerToolCalls, StreamingOrderBeginBeforeArguments) {
  ToolCallParser p;
  std::vector<ToolCallEvent> all;
  for (std::string piece : {B, CB, std::string("function"), SEP, std::string("f\n```json\n{\"a\""),
                            std::string(": 1}\n```"), CE, E}) {
    auto ev = p.push(piece);
    all.insert(all.end(), ev.begin(), ev.end());
  }
  auto ev = p.flush();
  all.insert(all.end(), ev.begin(), ev.end());
  ASSERT_GE(all.size(), 2u);
  EXPECT_EQ(all[0].kind, ToolCallEvent::Kind::Begin);
  EXPECT_EQ(all[0].text, "f");
  std::string args;
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_EQ(all[i].kind, ToolCallEvent::Kind::Arguments);
    args += all[i].text;
  }
  EXPECT_EQ(args, "{\"a\": 1}");
  // The arguments streamed before the call ended: the first fragment came with its own piece.
  EXPECT_GE(all.size(), 3u);
}

TEST(ServerChatOutput, ReasoningAndContent) {
  for_all_splits("<think>plan</think>\n\nanswer", [](const ChatMessageOut& m) {
    EXPECT_EQ(m.reasoning, "plan");
    EXPECT_EQ(m.content, "answer");
  });
  // The prompt opened <think> (R1's generation prompt): output starts in the reasoning.
  for_all_splits("plan</think>answer", [](const ChatMessageOut& m) {
    EXPECT_EQ(m.reasoning, "plan");
    EXPECT_EQ(m.content, "answer");
  }, true);
  // No reasoning at all.
  for_all_splits("just an answer <think> here", [](const ChatMessageOut& m) {
    EXPECT_EQ(m.reasoning, "");
    EXPECT_EQ(m.content, "just an answer <think> here");
  });
}

}  // namespace
}  // namespace fathom::server
