// ChatTemplate: a model's template parsed once and rendered for every conversation (the CLI's chat
// session and the server hold one per model). Syntax errors surface when it is built, render-time
// errors when it renders, and one object renders the same text from many threads at once.
#include "test_paths.h"
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "chat/chat_template.h"
#include "core/error.h"

using namespace fathom::chat;
using nlohmann::ordered_json;

namespace {

std::string read(const std::string& rel) {
  std::ifstream f(std::filesystem::path(FATHOM_SOURCE_DIR) / rel, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ChatOptions deepseek_options() {
  ChatOptions o;
  o.add_generation_prompt = true;
  o.bos_token = "<｜begin▁of▁sentence｜>";
  o.eos_token = "<｜end▁of▁sentence｜>";
  return o;
}

ordered_json conversation(int turns) {
  ordered_json m = ordered_json::array();
  m.push_back({{"role", "system"}, {"content", "Be brief."}});
  for (int i = 0; i < turns; ++i) {
    m.push_back({{"role", "user"}, {"content", "question " + std::to_string(i)}});
    if (i + 1 < turns) m.push_back({{"role", "assistant"}, {"content", "answer " + std::to_string(i)}});
  }
  return m;
}

}  // namespace

TEST(ChatTemplateObject, RendersEachConversationAsAOneOffRenderDoes) {
  const std::string source = read("tests/tokenizer/templates/deepseek_v3.jinja");
  ASSERT_FALSE(source.empty());
  const ChatTemplate t(source);
  const ChatOptions o = deepseek_options();
  // A growing conversation, as `fathom chat` renders it turn after turn.
  for (int turns = 1; turns <= 3; ++turns) {
    const std::string text = t.render(conversation(turns), o);
    EXPECT_EQ(text, render_chat(source, conversation(turns), o));
    EXPECT_NE(text.find("question " + std::to_string(turns - 1)), std::string::npos) << text;
  }
  EXPECT_EQ(t.render(conversation(1), o),
            "<｜begin▁of▁sentence｜>Be brief.<｜User｜>question 0<｜Assistant｜>");
}

TEST(ChatTemplateObject, SyntaxErrorsAtConstructionRenderErrorsAtRender) {
  try {
    ChatTemplate bad("{% if messages %}unclosed");
    FAIL() << "a template with an unclosed block was accepted";
  } catch (const fathom::Error& e) {
    EXPECT_NE(std::string(e.what()).find("chat template 1:"), std::string::npos) << e.what();
  }
  const ChatTemplate raises("{% if messages | length > 1 %}{{ raise_exception('one message only') }}{% endif %}ok");
  EXPECT_EQ(raises.render(conversation(0)), "ok");
  EXPECT_THROW(raises.render(conversation(1)), fathom::Error);
  EXPECT_THROW(raises.render(ordered_json::object()), fathom::Error);  // messages must be an array
}

TEST(ChatTemplateObject, OneObjectServesConcurrentRenders) {
  const ChatTemplate t(read("tests/tokenizer/templates/deepseek_r1.jinja"));
  const ChatOptions o = deepseek_options();
  const std::string expected = t.render(conversation(3), o);
  std::vector<std::string> got(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 20; ++k) got[i] = t.render(conversation(3), o);
    });
  for (auto& th : threads) th.join();
  for (auto& g : got) EXPECT_EQ(g, expected);
}
