// Hostile tokenizer.json / tokenizer_config.json files: ids that would index outside the id table
// (a negative id was written before its start; 2^31-1 overflowed the table size; 2^40 was silently
// truncated) and malformed structure are errors naming the file, the field and the token, never
// memory corruption or nlohmann's raw "[json.exception...]" text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

using fathom::Tokenizer;
using nlohmann::json;

namespace {

json small_tokenizer() {
  json vocab = json::object();
  const auto& bl = fathom::tok::byte_level_map();
  for (int b = 0; b < 256; ++b) vocab[bl.byte_to_utf8[b]] = b;
  vocab["he"] = 256;
  return {{"added_tokens", json::array({{{"id", 257}, {"content", "<s>"}, {"special", true}}})},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"h e"})}}}};
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const fathom::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The error from loading `tj` (and config `cj`), checked to be free of raw library text.
std::string load_error(const json& tj, const json& cj = nullptr) {
  std::string e = error_of([&] { Tokenizer::from_json(tj.dump(), cj.is_null() ? "" : cj.dump()); });
  EXPECT_EQ(e.find("json.exception"), std::string::npos) << e;
  return e;
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

}  // namespace

TEST(TokenizerHostile, TheBaseFileLoads) {
  Tokenizer t = Tokenizer::from_json(small_tokenizer().dump());
  EXPECT_EQ(t.encode("he<s>"), (std::vector<int32_t>{256, 257}));
}

TEST(TokenizerHostile, VocabIdsOutsideTheTable) {
  for (json bad : {json(-1), json(2147483647), json(int64_t(1) << 40), json(100000), json(1.5), json("7")}) {
    json tj = small_tokenizer();
    tj["model"]["vocab"]["evil"] = bad;
    std::string e = load_error(tj);
    EXPECT_HAS(e, "tokenizer.json: 'model.vocab.evil'");
    EXPECT_HAS(e, "must be an integer");
  }
}

TEST(TokenizerHostile, TwoTokensWithOneId) {
  json tj = small_tokenizer();
  tj["model"]["vocab"]["evil"] = 256;
  std::string e = load_error(tj);
  EXPECT_HAS(e, "both have id 256");
  EXPECT_HAS(e, "'evil'");
}

TEST(TokenizerHostile, MalformedStructure) {
  auto with = [](const std::string& key, json v) {
    json tj = small_tokenizer();
    tj[key] = std::move(v);
    return tj;
  };
  EXPECT_HAS(load_error(json::array()), "tokenizer.json: must be an object");
  EXPECT_HAS(load_error(with("model", json::array())), "'model': must be an object");
  EXPECT_HAS(load_error(with("pre_tokenizer", {{"type", "Split"}})), "'pre_tokenizer.pattern': is required");
  EXPECT_HAS(load_error(with("pre_tokenizer", {{"type", "Sequence"}})), "'pre_tokenizer.pretokenizers': is required");
  EXPECT_HAS(load_error(with("normalizer", {{"type", "Sequence"}, {"normalizers", 3}})),
             "'normalizer.normalizers': must be an array");
  EXPECT_HAS(load_error(with("added_tokens", json::array({{{"content", 5}}}))), "'added_tokens[0].content': must be a string");
  EXPECT_HAS(load_error(with("decoder", "ByteLevel")), "'decoder': must be an object");
  EXPECT_HAS(load_error(with("post_processor", {{"type", "TemplateProcessing"},
                                                {"single", json::array({{{"SpecialToken", {{"id", "<s>"}}}}})}})),
             "'post_processor.special_tokens': is required");
  EXPECT_HAS(load_error(with("post_processor", {{"type", "TemplateProcessing"},
                                                {"single", json::array({{{"SpecialToken", {{"id", "<s>"}}}}})},
                                                {"special_tokens", {{"<s>", {{"ids", json::array({-5})}}}}}})),
             "'post_processor.special_tokens.<s>.ids[0]'");
  EXPECT_HAS(load_error(with("post_processor", {{"type", "TemplateProcessing"},
                                                {"single", json::array({{{"SpecialToken", {{"id", "<s>"}}}}})},
                                                {"special_tokens", {{"<s>", {{"ids", json::array({99999})}}}}}})),
             "adds token id 99999, which is not in the vocab");
  json tj = small_tokenizer();
  tj["model"]["merges"] = json::array({7});
  EXPECT_HAS(load_error(tj), "'model.merges[0]'");
}

TEST(TokenizerHostile, ConfigFields) {
  const json tj = small_tokenizer();
  std::string e = load_error(tj, {{"chat_template", json::array({{{"template", "x"}}})}});
  EXPECT_HAS(e, "tokenizer_config.json: 'chat_template[0].name': is required");
  EXPECT_HAS(load_error(tj, {{"chat_template", 5}}), "'chat_template': must be a string or a list");
  EXPECT_HAS(load_error(tj, {{"bos_token", 5}}), "'bos_token': must be a string or an object");
  EXPECT_HAS(load_error(tj, {{"add_bos_token", "yes"}}), "'add_bos_token': must be true or false");
}

TEST(TokenizerHostile, LoadNamesThePath) {
  std::string d = fathom::test::scratch_dir("tok_hostile");
  std::filesystem::create_directory(d + "/tokenizer.json");  // a directory where the file should be
  std::string e = error_of([&] { Tokenizer::load(d); });
  EXPECT_HAS(e, d + "/tokenizer.json");
  EXPECT_HAS(e, "is a directory");
  std::filesystem::remove(d + "/tokenizer.json");
  std::ofstream(d + "/tokenizer.json") << "{\"model\": " << std::string(100000, '[') << "}";
  e = error_of([&] { Tokenizer::load(d); });
  EXPECT_HAS(e, d + "/tokenizer.json");
  EXPECT_HAS(e, "nested deeper than 128 levels");
}
