// The built-in verifiable task: integer arithmetic. Problems "What is A + B?", "What is A - B?"
// (A, B uniform in 0…9999) and "What is A * B?" (A in 0…999, B in 0…99), the operation uniform
// among the three. The answer format is
//   <think>
//   …any reasoning…
//   </think>
//   INTEGER
// : a think block first (leading whitespace allowed), then the integer alone on the last non-empty
// line (optional '-', digits, no leading zeros, no "-0"); lines between </think> and it are allowed.
// Reward: 1 for the exact integer in a well-formed answer, 0 otherwise. No shaping: a well-formed
// wrong answer and a malformed one both get 0 (the format is learned in SFT before GRPO).
#pragma once
#include <optional>

#include "training/verifier.h"

namespace fathom::train {

struct ArithProblem {
  int64_t a = 0, b = 0;
  char op = '+';  // '+', '-', '*'
  int64_t answer() const { return op == '+' ? a + b : op == '-' ? a - b : a * b; }
  std::string question() const;  // "What is A + B?"
};

ArithProblem arith_problem(uint64_t seed, int64_t index);

// The think block's content and the final line of a completion in the format above, or nullopt
// (with why in *error: "no <think> block", "no final integer", ...).
struct ParsedAnswer {
  std::string_view think;
  std::string_view final_line;
};
std::optional<ParsedAnswer> parse_reasoned_answer(std::string_view completion, std::string* error = nullptr);

class ArithTask : public Task {
 public:
  TaskItem item(uint64_t seed, int64_t index) const override;
  Verdict verify(const TaskItem& item, std::string_view completion) const override;
};

}  // namespace fathom::train
