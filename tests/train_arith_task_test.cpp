// The built-in arithmetic task (training/arith_task.h) that GRPO is rewarded by and eval-arith
// scores: the problem distribution the issue fixes, problems as a pure function of (seed, index),
// and the verifier's format rules, case by case, since a lenient verifier is reward hacking waiting
// to happen and a strict one a reward the model can never collect.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>

#include "training/arith_task.h"

namespace fathom::train {
namespace {

TEST(ArithTask, ProblemsFollowTheIssuesDistribution) {
  std::map<char, int64_t> count;
  std::map<char, std::pair<int64_t, int64_t>> a_range, b_range;
  const int64_t n = 30000;
  const std::regex q(R"(What is (\d+) ([-+*]) (\d+)\?)");
  const ArithTask task;
  for (int64_t i = 0; i < n; ++i) {
    const ArithProblem p = arith_problem(7, i);
    ++count[p.op];
    auto widen = [](std::pair<int64_t, int64_t>& r, int64_t v, bool first) {
      r = first ? std::make_pair(v, v) : std::make_pair(std::min(r.first, v), std::max(r.second, v));
    };
    const bool first = count[p.op] == 1;
    widen(a_range[p.op], p.a, first);
    widen(b_range[p.op], p.b, first);
    const TaskItem item = task.item(7, i);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(item.question, m, q)) << item.question;
    EXPECT_EQ(std::stoll(m[1]), p.a);
    EXPECT_EQ(m[2].str()[0], p.op);
    EXPECT_EQ(std::stoll(m[3]), p.b);
    const int64_t truth = p.op == '+' ? p.a + p.b : p.op == '-' ? p.a - p.b : p.a * p.b;
    EXPECT_EQ(item.expected, std::to_string(truth));
    EXPECT_EQ(item.kind, std::string("A ") + p.op + " B");
  }
  for (char op : {'+', '-', '*'}) {
    EXPECT_NEAR(double(count[op]) / double(n), 1.0 / 3.0, 0.02) << op;
    const int64_t amax = op == '*' ? 999 : 9999, bmax = op == '*' ? 99 : 9999;
    // Uniform over the range: the extremes of 10,000 draws come within a few hundredths of its ends.
    EXPECT_GE(a_range[op].first, 0);
    EXPECT_LE(a_range[op].first, amax / 50);
    EXPECT_LE(a_range[op].second, amax);
    EXPECT_GE(a_range[op].second, amax - amax / 50);
    EXPECT_GE(b_range[op].first, 0);
    EXPECT_LE(b_range[op].first, bmax / 50 + 1);
    EXPECT_LE(b_range[op].second, bmax);
    EXPECT_GE(b_range[op].second, bmax - bmax / 50 - 1);
  }
}

TEST(ArithTask, ProblemsArePureFunctionsOfSeedAndIndex) {
  const ArithTask task;
  std::set<std::string> seen;
  int64_t same_across_seeds = 0;
  for (int64_t i = 0; i < 200; ++i) {
    EXPECT_EQ(task.item(5, i).question, task.item(5, i).question);
    same_across_seeds += task.item(5, i).question == task.item(6, i).question ? 1 : 0;
    seen.insert(task.item(5, i).question);
  }
  EXPECT_LE(same_across_seeds, 2) << "seeds 5 and 6 must be different streams";
  EXPECT_GE(seen.size(), 195u) << "indices of one stream must be different problems";
}

TEST(ArithTask, RewardIsOneOnlyForTheExactIntegerAfterAWellFormedThinkBlock) {
  const ArithTask task;
  const TaskItem item{"What is 907 - 3512?", "-2605", "A - B"};
  struct Case {
    const char* completion;
    bool format_ok, correct;
  };
  const Case cases[] = {
      {"<think>\nsteps\n</think>\n-2605", true, true},
      {"  \n<think>x</think>\n\n-2605\n", true, true},             // leading and trailing whitespace
      {"<think>x</think>\nso the answer is:\n-2605", true, true},   // lines between allowed
      {"<think>x</think>\n-2604", true, false},                     // wrong integer
      {"<think>x</think>\n2605", true, false},                      // sign lost
      {"<think>x</think>\n-02605", false, false},                   // leading zero
      {"<think>x</think>\nThe answer is -2605", false, false},      // not alone on its line
      {"<think>x</think>\n-2605 apples", false, false},
      {"-2605", false, false},                                      // no think block
      {"<think>x\n-2605", false, false},                            // never closed
      {"<think>a<think>b</think>\n-2605", false, false},            // nested
      {"<think>a</think><think>b</think>\n-2605", false, false},    // two blocks
      {"<think>x</think>\n", false, false},                         // no answer
      {"text <think>x</think>\n-2605", false, false},               // think not first
      {"<think>x</think>\n-", false, false},
      {"<think>x</think>\n99999999999999999999", false, false},     // too long to be an answer here
  };
  for (const Case& c : cases) {
    const Verdict v = task.verify(item, c.completion);
    EXPECT_EQ(v.format_ok, c.format_ok) << c.completion;
    EXPECT_EQ(v.correct, c.correct) << c.completion;
    EXPECT_EQ(v.reward, c.correct ? 1.0 : 0.0) << c.completion;
  }
  EXPECT_EQ(task.verify(item, "<think>abcd</think>\n-2605").think_chars, 4);
  const TaskItem zero{"What is 5 - 5?", "0", "A - B"};
  EXPECT_TRUE(task.verify(zero, "<think>x</think>\n0").correct);
  EXPECT_FALSE(task.verify(zero, "<think>x</think>\n-0").format_ok) << "-0 is not an integer's form";
  EXPECT_FALSE(task.verify(zero, "<think>x</think>\n00").format_ok);
}

}  // namespace
}  // namespace fathom::train
