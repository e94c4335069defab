// Tasks with rule-checked answers, for reinforcement learning on verifiable rewards (GRPO) and for
// evaluation: a task makes problems (a question for the user message and what a correct answer
// must contain) and verifies a completion. New tasks implement Task; the trainer and `fathom
// eval-arith` only see this interface.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace fathom::train {

struct TaskItem {
  std::string question;  // the user message
  std::string expected;  // the exact final answer (for logs and the verifier)
  std::string kind;      // the problem's family, for accuracy per family ("A + B"); may be empty
};

struct Verdict {
  double reward = 0;       // what GRPO optimises
  bool correct = false;    // the final answer is the expected one (and well formed)
  bool format_ok = false;  // <think>…</think> then the answer alone on the last line
  int64_t think_chars = 0; // bytes between <think> and </think> (0 when malformed)
};

class Task {
 public:
  virtual ~Task() = default;
  // Problem `index` of the stream `seed`: a pure function of both, so runs and resumes are repeatable.
  virtual TaskItem item(uint64_t seed, int64_t index) const = 0;
  // completion: the assistant's text as generated (special tokens left out), prefixed with whatever
  // of the answer the generation prompt already wrote (some templates end with "<think>\n").
  virtual Verdict verify(const TaskItem& item, std::string_view completion) const = 0;
};

}  // namespace fathom::train
