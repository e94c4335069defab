// Evaluating a model on a verifiable task (`fathom eval-arith`): problems asked as a user message
// through the model's chat template, answered greedily, checked by the task's verifier.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "training/verifier.h"

namespace fathom {
class Generator;
}

namespace fathom::train {

class ChatRenderer;

struct TaskEvalReport {
  struct Tally {
    int64_t problems = 0, correct = 0, format_errors = 0;
    void add(const Verdict& v) {
      ++problems;
      correct += v.correct ? 1 : 0;
      format_errors += v.format_ok ? 0 : 1;
    }
    double accuracy() const { return problems > 0 ? double(correct) / double(problems) : 0.0; }
  };
  Tally total;
  std::map<std::string, Tally> by_kind;  // TaskItem::kind -> its share of total
  double think_chars = 0;    // mean over well-formed answers
  double answer_tokens = 0;  // mean over all answers
};

// Problems 0..n-1 of the stream `seed`, at most max_tokens per answer: greedy when temperature is
// 0, else sampled at that temperature (no top-k/top-p/min-p, as GRPO samples), problem i with the
// sampling seed seed*1000003 + i so that a rerun repeats. on_item (optional) sees every problem
// with its completion and verdict.
TaskEvalReport evaluate_task(Generator& gen, const ChatRenderer& chat, const Task& task, int64_t n, uint64_t seed,
                             int64_t max_tokens, float temperature,
                             const std::function<void(const TaskItem&, const std::string&, const Verdict&)>& on_item = {});

}  // namespace fathom::train
