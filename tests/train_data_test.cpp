// BPE training and data preparation: the merge rule and its tie-break, the vocabulary layout, the
// tokenizer it writes loading into fathom's tokenizer, the document split and the validation rule.
// (Hugging Face agreement and prepare's output files: tests/train_data/tokenizer_prepare.js.)
#include <gtest/gtest.h>

#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"
#include "training/prepare.h"

namespace fathom::train {
namespace {

using namespace fathom::tok;  // the BPE trainer
using Merge = std::pair<std::string, std::string>;

TEST(BpeTrainer, MergesMostFrequentPairFirst) {
  BpeTrainOptions o;
  o.vocab_size = 1000;
  // pairs: a b = 3 + 2 = 5, b c = 2 + 1 = 3.
  auto m = train_bpe({{"ab", 3}, {"abc", 2}, {"bc", 1}}, o);
  ASSERT_EQ(m.merges.size(), 2u);  // then (b, c) is seen once: below min_frequency 2
  EXPECT_EQ(m.merges[0], Merge("a", "b"));
  EXPECT_EQ(m.merges[1], Merge("ab", "c"));
  ASSERT_EQ(m.tokens.size(), 261u);
  EXPECT_EQ(m.tokens[259], "ab");
  EXPECT_EQ(m.tokens[260], "abc");
}

TEST(BpeTrainer, TiesGoToSmallestPairAndVocabSizeIsExact) {
  BpeTrainOptions o;
  o.vocab_size = 259 + 2 + 1;  // room for exactly one merge
  auto m = train_bpe({{"xy", 4}, {"ab", 4}}, o);
  ASSERT_EQ(m.merges.size(), 1u);
  EXPECT_EQ(m.merges[0], Merge("a", "b"));
  EXPECT_EQ(int64_t(m.tokens.size()) + 2, o.vocab_size);
}

TEST(BpeTrainer, LayoutSpecialsBytesAndChatTokens) {
  BpeTrainOptions o;
  o.vocab_size = 300;
  PreTokenCounter c;
  c.add_text("Hello world, hello there. The world said hello.\n\nAnd 12345 numbers 678.");
  auto m = train_bpe(c.sorted_counts(), o);
  EXPECT_EQ(m.tokens[0], "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(m.tokens[1], "<｜end▁of▁sentence｜>");
  EXPECT_EQ(m.tokens[2], "<｜▁pad▁｜>");
  EXPECT_EQ(m.tokens[3], "!");   // byte characters sorted by code point
  EXPECT_EQ(m.tokens[258], "Ń");  // the last of the 256 (U+0143, byte 0xAD)
  auto tj = tokenizer_json(m), cj = tokenizer_config_json();
  Tokenizer t = Tokenizer::from_json(tj.dump(), cj.dump());
  const int64_t n = int64_t(m.tokens.size());
  EXPECT_EQ(int64_t(t.vocab_size()), n + 2);
  EXPECT_EQ(t.token_to_id("<｜User｜>"), n);
  EXPECT_EQ(t.token_to_id("<｜Assistant｜>"), n + 1);
  EXPECT_EQ(t.bos_id(), 0);
  EXPECT_EQ(t.eos_id(), 1);
  EXPECT_TRUE(t.add_bos());
  const std::string text = "hello world 12345, said the world\n";
  auto ids = t.encode(text, true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 0);
  EXPECT_LT(ids.size(), text.size());  // merges apply
  EXPECT_EQ(t.decode(std::span<const int32_t>(ids).subspan(1)), text);
  // Unseen bytes still encode (byte-level alphabet), and round-trip.
  const std::string odd = "Ωμέγα \xF0\x9F\x98\x80 \t\r\n";
  auto oids = t.encode(odd);
  EXPECT_EQ(t.decode(oids), odd);
}

// --digits-per-token 1: numbers never merge, however frequent, so every digit is a token of its
// own (written into tokenizer.json's pre_tokenizer too); the default 3 merges frequent groups.
TEST(BpeTrainer, DigitsPerTokenOneKeepsEveryDigitItsOwnToken) {
  const std::string corpus = "What is 1234 + 5678? 1234 5678 12 34 56 78 1234 5678 123 456\n";
  for (int digits : {1, 3}) {
    BpeTrainOptions o;
    o.vocab_size = 400;
    o.digits_per_token = digits;
    PreTokenCounter c(digits);
    for (int i = 0; i < 20; ++i) c.add_text(corpus);
    const BpeModel m = train_bpe(c.sorted_counts(), o);
    const auto tj = tokenizer_json(m, digits);
    EXPECT_EQ(tj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"],
              digits == 1 ? "\\p{N}" : "\\p{N}{1,3}");
    Tokenizer t = Tokenizer::from_json(tj.dump(), tokenizer_config_json().dump());
    const auto ids = t.encode("1234+5678");
    if (digits == 1) {
      ASSERT_EQ(ids.size(), 9u);
      for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(t.decode(std::span(&ids[i], 1)).size(), 1u);
    } else {
      EXPECT_LT(ids.size(), 9u);  // "123" and "567" groups merge
    }
    EXPECT_EQ(t.decode(ids), "1234+5678");
  }
  EXPECT_THROW(deepseek_pre_tokenizer_json(0), std::exception);
  EXPECT_THROW(deepseek_pre_tokenizer_json(4), std::exception);
}

TEST(BpeTrainer, RejectsTooSmallVocab) {
  BpeTrainOptions o;
  o.vocab_size = 200;
  EXPECT_THROW(train_bpe({{"ab", 3}}, o), std::exception);
}

TEST(Prepare, SplitsDocumentsAtBlankLines) {
  auto d = split_documents("\n\nfirst line\nsecond\n\n \t\nthird\r\n\r\n\r\nfourth\nlast no newline");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0], "first line\nsecond");
  EXPECT_EQ(d[1], "third");
  EXPECT_EQ(d[2], "fourth\nlast no newline");
  EXPECT_TRUE(split_documents("").empty());
  EXPECT_TRUE(split_documents("\n \n\t\n").empty());
  EXPECT_EQ(split_documents("one").size(), 1u);
}

TEST(Prepare, ValidationDocumentsAreEvenlySpaced) {
  int n = 0;
  for (int64_t i = 0; i < 100; ++i) {
    bool v = is_validation_document(i, 0.25);
    EXPECT_EQ(v, (i + 1) % 4 == 0) << i;
    n += v;
  }
  EXPECT_EQ(n, 25);
  for (int64_t i = 0; i < 1000; ++i) EXPECT_FALSE(is_validation_document(i, 0.0));
  int m = 0;
  for (int64_t i = 0; i < 1189; ++i) m += is_validation_document(i, 0.02);
  EXPECT_EQ(m, 23);  // the KJV's 1189 chapters at the default model's fraction
}

}  // namespace
}  // namespace fathom::train
