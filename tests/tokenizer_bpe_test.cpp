// The tokenizer on a tiny byte-level BPE built here (so these run without the npm references):
// merge order, pre-tokenization, added-token flags, decode, streaming decode, config handling,
// invalid UTF-8, errors for what is not supported, and the CLI commands on it.
#include "test_paths.h"
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

using fathom::Tokenizer;
using nlohmann::json;

namespace {

// Vocab: the 256 byte characters (id = byte value), then merges building "hello" and " world".
json tiny_tokenizer(json pre_tokenizer = {{"type", "ByteLevel"}, {"add_prefix_space", false},
                                          {"use_regex", true}}) {
  json vocab = json::object();
  const auto& bl = fathom::tok::byte_level_map();
  for (int b = 0; b < 256; ++b) vocab[bl.byte_to_utf8[b]] = b;
  std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"o", "r"},
      {"Ġw", "or"}, {"l", "d"}, {"Ġwor", "ld"}};
  json m = json::array();
  int next = 256;
  for (auto& [a, b] : merges) {
    vocab[a + b] = next++;
    m.push_back(a + " " + b);
  }
  return {{"version", "1.0"},
          {"added_tokens", json::array({
               {{"id", 265}, {"content", "<s>"}, {"special", true}},
               {{"id", 266}, {"content", "[R]"}, {"rstrip", true}, {"special", false}},
               {{"id", 267}, {"content", "[L]"}, {"lstrip", true}, {"special", false}},
               {{"id", 268}, {"content", "ab"}, {"single_word", true}, {"special", false}},
           })},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}}}};
}

std::vector<int32_t> ids(std::initializer_list<int32_t> l) { return l; }

}  // namespace

TEST(TokenizerBpe, MergesByRankAndSplitsWithTheGpt2Pattern) {
  auto t = Tokenizer::from_json(tiny_tokenizer().dump());
  EXPECT_EQ(t.encode("hello world"), ids({259, 264}));
  EXPECT_EQ(t.encode("hello hello"), ids({259, ' ', 259}));  // " hello": no merge with Ġ
  EXPECT_EQ(t.encode("hellohello"), ids({259, 259}));
  EXPECT_EQ(t.encode(""), ids({}));
  EXPECT_EQ(t.decode(t.encode("hello world, ünïcode 😀")), "hello world, ünïcode 😀");
  // A word long enough to take the heap path merges the same way.
  std::string many;
  for (int i = 0; i < 40; ++i) many += "hello";
  auto long_ids = t.encode(many);
  EXPECT_EQ(long_ids, std::vector<int32_t>(40, 259));
}

TEST(TokenizerBpe, AddedTokensAndTheirFlags) {
  auto t = Tokenizer::from_json(tiny_tokenizer().dump());
  EXPECT_EQ(t.encode("<s>hello"), ids({265, 259}));
  EXPECT_EQ(t.encode("x[R]  y"), ids({'x', 266, 'y'}));          // rstrip eats the spaces
  EXPECT_EQ(t.encode("x  [L]y"), ids({'x', 267, 'y'}));          // lstrip eats the spaces
  EXPECT_EQ(t.encode("ab cab"), ids({268, ' ', 'c', 'a', 'b'}));  // single_word
  EXPECT_TRUE(t.is_special(265));
  EXPECT_FALSE(t.is_special(266));
  EXPECT_EQ(t.decode(ids({265, 259}), true), "hello");
  EXPECT_EQ(t.decode(ids({265, 259}), false), "<s>hello");
  EXPECT_EQ(t.token_to_id("<s>"), 265);
  EXPECT_EQ(t.token_text(264), "Ġworld");
  EXPECT_EQ(t.vocab_size(), 269u);
}

TEST(TokenizerBpe, InvalidUtf8IsEncodedAsReplacementCharacters) {
  auto t = Tokenizer::from_json(tiny_tokenizer().dump());
  EXPECT_EQ(t.encode("a\xff" "b"), t.encode("a\uFFFD" "b"));
  // Decoding a lone continuation byte gives U+FFFD, like Rust's from_utf8_lossy.
  EXPECT_EQ(t.decode(ids({0x80})), "\uFFFD");
}

TEST(TokenizerBpe, StreamDecoderNeverSplitsACharacter) {
  auto t = Tokenizer::from_json(tiny_tokenizer().dump());
  std::string text = "hé 日本 😀!";
  auto all = t.encode(text);  // no merges for these: one id per byte
  fathom::StreamDecoder d(t);
  std::string joined;
  for (int32_t id : all) {
    std::string piece = d.put(id);
    EXPECT_TRUE(fathom::tok::is_valid_utf8(piece)) << piece;
    joined += piece;
  }
  joined += d.finish();
  EXPECT_EQ(joined, text);
  // An unfinished character at the end comes out as U+FFFD from finish().
  fathom::StreamDecoder d2(t);
  EXPECT_EQ(d2.put(0xE6), "");
  EXPECT_EQ(d2.finish(), "\uFFFD");
}

TEST(TokenizerBpe, MergesAsPairsAndIgnoreMerges) {
  json j = tiny_tokenizer();
  json pairs = json::array();
  for (auto& m : j["model"]["merges"]) {
    std::string s = m;
    pairs.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  j["model"]["merges"] = pairs;
  EXPECT_EQ(Tokenizer::from_json(j.dump()).encode("hello world"), ids({259, 264}));
  // ignore_merges: a whole word in the vocab is one token even if merges would not reach it.
  j["model"]["vocab"]["Ġhe"] = 269;
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(Tokenizer::from_json(j.dump()).encode(" he"), ids({269}));
}

TEST(TokenizerBpe, ConfigGivesSpecialTokensAndTemplates) {
  json config = {{"add_bos_token", true}, {"add_eos_token", true},
                 {"bos_token", {{"content", "<s>"}}}, {"eos_token", "[R]"},
                 {"chat_template", json::array({{{"name", "default"}, {"template", "D"}},
                                                {{"name", "tool_use"}, {"template", "T"}}})}};
  auto t = Tokenizer::from_json(tiny_tokenizer().dump(), config.dump());
  EXPECT_EQ(t.bos_id(), 265);
  EXPECT_EQ(t.eos_id(), 266);
  EXPECT_EQ(t.encode("hello", true), ids({265, 259, 266}));
  EXPECT_EQ(t.chat_template(), "D");
  EXPECT_EQ(t.chat_template("tool_use"), "T");
  EXPECT_EQ(t.chat_template("missing"), "");
}

TEST(TokenizerBpe, UnsupportedPartsFailLoudly) {
  json j = tiny_tokenizer();
  j["normalizer"] = {{"type", "Precompiled"}};
  EXPECT_THROW(Tokenizer::from_json(j.dump()), fathom::Error);
  j = tiny_tokenizer();
  j["decoder"] = {{"type", "WordPiece"}};
  EXPECT_THROW(Tokenizer::from_json(j.dump()), fathom::Error);
  EXPECT_THROW(Tokenizer::from_json("{not json"), fathom::Error);
  EXPECT_THROW(Tokenizer::load("/nonexistent/dir"), fathom::Error);
  auto t = Tokenizer::from_json(tiny_tokenizer().dump());
  EXPECT_THROW(t.token_text(100000), fathom::Error);
}

TEST(TokenizerCli, TokenizeDetokenizeRoundTrip) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(FATHOM_TEST_TMP) / "tokenizer_cli";
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << tiny_tokenizer().dump();
  std::ofstream(dir / "text.txt") << "hello world";
  std::ofstream(dir / "lines.jsonl") << "\"hello\"\n\"<s> world\"\n";
  auto run = [](const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int rc = pclose(p);
    return std::make_pair(rc, out);
  };
  std::string bin = FATHOM_BINARY, d = dir.string();
  auto [rc1, out1] = run(bin + " tokenize " + d + " --text-file " + d + "/text.txt");
  EXPECT_EQ(rc1, 0);
  EXPECT_EQ(out1, "[259,264]\n");
  auto [rc2, out2] = run(bin + " tokenize " + d + "/tokenizer.json --jsonl --text-file " + d + "/lines.jsonl");
  EXPECT_EQ(out2, "[259]\n[265,264]\n");
  auto [rc3, out3] = run(bin + " detokenize " + d + " --ids 265,259,264");
  EXPECT_EQ(out3, "<s>hello world");
  auto [rc4, out4] = run(bin + " detokenize " + d + " --ids 999999 2>&1");
  EXPECT_NE(rc4, 0);
  EXPECT_NE(out4.find("not in the vocabulary"), std::string::npos);
}
