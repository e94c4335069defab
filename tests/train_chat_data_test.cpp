// `fathom prepare --chat` (training/prepare_chat.h, chat_tokens.h): conversations rendered with the
// tokenizer's chat template, the loss mask on exactly the assistant turns (their text and the EOS
// the template closes them with), and the batches carrying the mask windows.
#include "test_paths.h"
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "model/synth.h"
#include "tokenizer/tokenizer.h"
#include "training/data.h"
#include "training/prepare_chat.h"

namespace fathom::train {
namespace {

namespace fs = std::filesystem;

// One folder per test: ctest runs the tests of this file as parallel processes.
fs::path tokenizer_dir() {
  const fs::path dir =
      fs::path(FATHOM_TEST_TMP) / "chat_data" / ::testing::UnitTest::GetInstance()->current_test_info()->name() / "tok";
  fs::remove_all(dir);
  fs::create_directories(dir);
  EXPECT_TRUE(fathom::synth_write_tokenizer(synth_preset_config("tiny-v3"), dir.string(), ""));
  return dir;
}

TEST(PrepareChat, MaskCoversAssistantTurnsOnly) {
  const fs::path tokdir = tokenizer_dir(), root = tokdir.parent_path();
  {
    std::ofstream f(root / "a.jsonl");
    f << R"({"messages": [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "five"}]})"
      << "\n\n"
      << R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},)"
      << R"( {"role": "assistant", "content": "hello"}, {"role": "user", "content": "bye"},)"
      << R"( {"role": "assistant", "content": "see you"}]})" << "\n";
  }
  PrepareOptions po;
  po.val_fraction = 0;
  po.threads = 1;
  const PrepareReport r = prepare_chat_data(tokdir, {root / "a.jsonl"}, root / "data", po);
  EXPECT_EQ(r.train_documents, 2);
  const TokenData data((root / "data").string());
  ASSERT_TRUE(data.meta().loss_mask);
  const int64_t n = data.train_size();
  std::vector<int32_t> ids(static_cast<size_t>(n));
  std::vector<uint8_t> mask(static_cast<size_t>(n));
  // One window covering the whole file: the start is drawn from 1 possible position.
  data.train_batch(0, 0, 1, n, ids.data(), mask.data());
  const tok::Tokenizer tok = tok::Tokenizer::load(tokdir);
  std::vector<int32_t> on, off;
  for (int64_t i = 0; i < n; ++i) (mask[size_t(i)] ? on : off).push_back(ids[size_t(i)]);
  const std::string eos = tok.eos_token();
  EXPECT_EQ(tok.decode(on), "five" + eos + "hello" + eos + "see you" + eos);
  EXPECT_EQ(tok.decode(off), tok.bos_token() + "<｜User｜>What is 2 + 3?<｜Assistant｜>" + tok.bos_token() +
                                 "Be brief.<｜User｜>hi<｜Assistant｜><｜User｜>bye<｜Assistant｜>");
}

TEST(PrepareChat, RefusesWhatTheTemplateWouldDrop) {
  const fs::path tokdir = tokenizer_dir(), root = tokdir.parent_path();
  auto expect_error = [&](const std::string& line, const std::string& needle) {
    { std::ofstream(root / "bad.jsonl") << line << "\n"; }
    try {
      prepare_chat_data(tokdir, {root / "bad.jsonl"}, root / "bad", PrepareOptions{});
      ADD_FAILURE() << "accepted: " << line;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  // The synthesized template drops reasoning before </think>, as R1's does: training on it would
  // silently lose the reasoning.
  expect_error(R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>a</think>b"}]})",
               "bad.jsonl:1: the chat template does not render assistant message 1 verbatim");
  expect_error(R"({"messages": [{"role": "user", "content": "q"}]})", "no assistant message");
  expect_error(R"({"messages": [{"role": "robot", "content": "q"}]})", "role \"robot\"");
  expect_error(R"({"msgs": []})", "no \"messages\" field");
  expect_error("not json", "bad.jsonl:1: not a JSON object");
}

}  // namespace
}  // namespace fathom::train
