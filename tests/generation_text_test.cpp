// Streamed-text rules of the generation loop: stop strings across pieces (held back while they
// could still match, released when they cannot, never splitting a UTF-8 character) and the
// <think>...</think> reasoning split, streamed in every possible piece size.
#include <gtest/gtest.h>

#include "core/error.h"
#include "generation/reasoning.h"
#include "generation/stop_strings.h"

using namespace fathom;

namespace {

// Feeds `text` to the matcher in pieces of `step` bytes; returns the released text.
std::string stream(StopMatcher& m, const std::string& text, size_t step) {
  std::string out;
  for (size_t i = 0; i < text.size() && !m.stopped(); i += step) out += m.push(text.substr(i, step));
  if (!m.stopped()) out += m.flush();
  return out;
}

ReasoningSplit stream_reasoning(const std::string& text, size_t step, bool starts_in) {
  ReasoningParser p(starts_in);
  ReasoningSplit r;
  auto take = [&](const std::vector<ReasoningPiece>& pieces) {
    for (auto& piece : pieces) (piece.reasoning ? r.reasoning : r.content) += piece.text;
  };
  for (size_t i = 0; i < text.size(); i += step) take(p.push(text.substr(i, step)));
  take(p.flush());
  return r;
}

}  // namespace

TEST(StopStrings, CutsBeforeTheStopInEveryPieceSize) {
  for (size_t step = 1; step <= 12; ++step) {
    StopMatcher m({"END", "\n\n"});
    EXPECT_EQ(stream(m, "one two ENthree END four", step), "one two ENthree ") << "step " << step;
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(m.matched(), "END");
  }
}

TEST(StopStrings, EarliestMatchWinsThenLongest) {
  StopMatcher a({"b", "abc"});
  EXPECT_EQ(a.push("xxabc"), "xx");
  EXPECT_EQ(a.matched(), "abc");
  StopMatcher b({"ab", "abc"});
  EXPECT_EQ(b.push("xabcd"), "x");
  EXPECT_EQ(b.matched(), "abc");
}

TEST(StopStrings, HoldsBackOnlyWhatCouldStillMatch) {
  StopMatcher m({"</answer>"});
  EXPECT_EQ(m.push("hello </ans"), "hello ");
  EXPECT_EQ(m.held(), 5u);
  EXPECT_EQ(m.push("wer is not it"), "</answer is not it");  // "</answe" + "r is" diverged
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.push("<"), "");
  EXPECT_EQ(m.flush(), "<");  // end of stream releases the tail
}

TEST(StopStrings, NothingAfterAStop) {
  StopMatcher m({"x"});
  EXPECT_EQ(m.push("abxcd"), "ab");
  EXPECT_EQ(m.push("more"), "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopStrings, MultiByteCharactersStayWhole) {
  // "é" is C3 A9, "€" is E2 82 AC; the stop string starts with a character that shares its lead
  // byte with one in the text, so a byte-wise prefix match must not cut inside "é".
  StopMatcher m({"\xC3\xA8nd"});  // "ènd"
  std::string released = stream(m, "caf\xC3\xA9 \xE2\x82\xAC \xC3\xA8nd", 1);
  EXPECT_EQ(released, "caf\xC3\xA9 \xE2\x82\xAC ");
  StopMatcher n({"\xC3\xA8nd"});
  EXPECT_EQ(n.push("caf\xC3"), "caf");  // C3 could begin "è": held back whole
  EXPECT_EQ(n.push("\xA9!"), "\xC3\xA9!");
}

TEST(StopStrings, EmptyStopIsRejected) { EXPECT_THROW(StopMatcher({"a", ""}), fathom::Error); }

TEST(StopStrings, NoStopsPassesThrough) {
  StopMatcher m;
  EXPECT_EQ(m.push("anything"), "anything");
  EXPECT_EQ(m.held(), 0u);
}

TEST(Reasoning, SplitsThinkBlockInEveryPieceSize) {
  const std::string text = "<think>\nLet me think: 2 + 2.\n</think>\n\nIt is 4.";
  for (size_t step = 1; step <= text.size(); ++step) {
    ReasoningSplit r = stream_reasoning(text, step, false);
    EXPECT_EQ(r.reasoning, "Let me think: 2 + 2.\n") << "step " << step;
    EXPECT_EQ(r.content, "It is 4.") << "step " << step;
  }
}

TEST(Reasoning, PromptThatOpenedTheBlock) {
  // R1's generation prompt ends with "<think>\n": the output starts inside the reasoning.
  EXPECT_TRUE(prompt_opens_reasoning("<｜User｜>hi<｜Assistant｜><think>\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<｜User｜>hi<｜Assistant｜>"));
  for (size_t step = 1; step <= 6; ++step) {
    ReasoningSplit r = stream_reasoning("hmm</think>\n\nyes", step, true);
    EXPECT_EQ(r.reasoning, "hmm");
    EXPECT_EQ(r.content, "yes");
  }
}

TEST(Reasoning, TagsLaterInTheAnswerAreText) {
  ReasoningSplit r = split_reasoning("Use <think> tags like <think>this</think>.");
  EXPECT_EQ(r.reasoning, "");
  EXPECT_EQ(r.content, "Use <think> tags like <think>this</think>.");
  ReasoningSplit plain = split_reasoning("  <thin air");
  EXPECT_EQ(plain.content, "<thin air");
}

TEST(Reasoning, UnfinishedReasoningStaysReasoning) {
  ReasoningSplit r = split_reasoning("<think>still going </thi");
  EXPECT_EQ(r.reasoning, "still going </thi");
  EXPECT_EQ(r.content, "");
}
