// UTF-8 repair, streaming boundaries, normalization and the regex wrapper: the pieces under the
// tokenizer whose behaviour is fixed by standards (WHATWG decoding, UAX #15) rather than by HF.
#include <gtest/gtest.h>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

using namespace fathom::tok;

TEST(TokenizerUnicode, InvalidUtf8BecomesReplacementPerMaximalSubpart) {
  // The WHATWG examples: one U+FFFD per maximal invalid subsequence.
  EXPECT_EQ(to_valid_utf8("a\xff" "b"), "a\uFFFD" "b");
  EXPECT_EQ(to_valid_utf8("\xe4\xb8"), "\uFFFD");                     // truncated 3-byte char
  EXPECT_EQ(to_valid_utf8("\xc0\xaf"), "\uFFFD\uFFFD");               // overlong
  EXPECT_EQ(to_valid_utf8("\xed\xa0\x80"), "\uFFFD\uFFFD\uFFFD");     // UTF-16 surrogate
  EXPECT_EQ(to_valid_utf8("\xf4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");  // above U+10FFFF
  EXPECT_EQ(to_valid_utf8("\xf0\x9f\x98" "x"), "\uFFFD" "x");         // cut emoji
  EXPECT_EQ(to_valid_utf8("ok é 日本 😀"), "ok é 日本 😀");
  EXPECT_TRUE(is_valid_utf8("ok é 日本 😀"));
  EXPECT_FALSE(is_valid_utf8("\x80"));
}

TEST(TokenizerUnicode, CompletePrefixHoldsBackOnlyAnUnfinishedCharacter) {
  std::string emoji = "😀";  // F0 9F 98 80
  EXPECT_EQ(complete_utf8_prefix("ab"), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab" + emoji.substr(0, 1)), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab" + emoji.substr(0, 3)), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab" + emoji), 6u);
  EXPECT_EQ(complete_utf8_prefix("ab\xe0\x80"), 4u);  // already invalid: nothing to wait for
  EXPECT_EQ(complete_utf8_prefix("\xe0"), 0u);
}

TEST(TokenizerUnicode, NormalizationForms) {
  EXPECT_EQ(normalize("e\u0301", NormalForm::NFC), "\u00e9");
  EXPECT_EQ(normalize("\u00e9", NormalForm::NFD), "e\u0301");
  EXPECT_EQ(normalize("\ufb01", NormalForm::NFKC), "fi");
  EXPECT_EQ(normalize("\ufb01", NormalForm::NFC), "\ufb01");
  EXPECT_EQ(normalize("\u2460", NormalForm::NFKD), "1");
  EXPECT_EQ(normalize("\uac00", NormalForm::NFD), "\u1100\u1161");  // Hangul, by arithmetic
  EXPECT_EQ(normalize("\u1100\u1161\u11a8", NormalForm::NFC), "\uac01");
  EXPECT_EQ(normalize("a\u0323\u0307", NormalForm::NFC), normalize("a\u0307\u0323", NormalForm::NFC));
  EXPECT_EQ(to_lower("ÀB Σ İ"), "àb σ i\u0307");
  EXPECT_EQ(to_upper("straße"), "STRASSE");
}

TEST(TokenizerUnicode, RustCharPredicates) {
  EXPECT_TRUE(is_whitespace(0x3000));
  EXPECT_FALSE(is_whitespace(0x180E));  // not White_Space since Unicode 6.3
  EXPECT_FALSE(is_whitespace(0x200B));
  EXPECT_TRUE(is_alphanumeric(U'é'));
  EXPECT_TRUE(is_alphanumeric(U'٣'));
  EXPECT_FALSE(is_alphanumeric(U'!'));
  EXPECT_TRUE(is_numeric(U'½'));
}

TEST(TokenizerRegex, WhitespaceClassIsUnicodeWhiteSpace) {
  Regex re(R"(\s+)");
  std::vector<std::pair<size_t, size_t>> m;
  std::string s = "a\u3000b\u180Ec \t\nd";
  re.for_each_match(s, [&](size_t b, size_t e) { m.push_back({b, e}); });
  ASSERT_EQ(m.size(), 2u);  // U+3000 and " \t\n"; U+180E is not a space
  EXPECT_EQ(s.substr(m[1].first, m[1].second - m[1].first), " \t\n");
  Regex neg(R"([^\s]+|\S)");
  size_t count = 0;
  neg.for_each_match("x y", [&](size_t, size_t) { ++count; });
  EXPECT_EQ(count, 2u);
}

TEST(TokenizerRegex, EmptyMatchesAdvanceByACharacter) {
  Regex re("x*");
  std::vector<std::pair<size_t, size_t>> m;
  re.for_each_match("ébx", [&](size_t b, size_t e) { m.push_back({b, e}); });
  // Empty at 0, empty after é (2 bytes), then "x" at 3.
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[1].first, 2u);
  EXPECT_EQ(m[2], (std::pair<size_t, size_t>{3, 4}));
}

TEST(TokenizerRegex, BadPatternNamesItself) {
  try {
    Regex re("(unclosed");
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("(unclosed"), std::string::npos);
  }
}
