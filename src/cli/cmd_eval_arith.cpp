// fathom eval-arith MODEL: accuracy on the built-in arithmetic task (training/arith_task.h), the
// problems asked through the model's chat template and answered greedily.
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/command.h"
#include "cli/load_model.h"
#include "training/arith_task.h"
#include "training/chat_tokens.h"
#include "training/task_eval.h"

namespace {

struct Options {
  fathom::cli::ModelFlags model;
  int64_t n = 500, max_tokens = 256;
  uint64_t seed = 1000003;  // a stream apart from train-grpo's default seed 0
  float temperature = 0.0f;
  bool show = false;
};

int run(const Options& o) {
  fathom::cli::LoadedModel m = fathom::cli::load_model(o.model);
  fathom::Generator gen(*m.model, *m.tokenizer, m.context, m.exec, m.cache_type);
  const fathom::train::ChatRenderer chat(*m.tokenizer);
  const fathom::train::ArithTask task;
  const auto r = fathom::train::evaluate_task(
      gen, chat, task, o.n, o.seed, o.max_tokens, o.temperature,
      [&](const fathom::train::TaskItem& item, const std::string& completion, const fathom::train::Verdict& v) {
        if (o.show)
          std::printf("%s  expected %s  %s\n%s\n\n", item.question.c_str(), item.expected.c_str(),
                      v.correct ? "correct" : v.format_ok ? "wrong" : "format error", completion.c_str());
      });
  std::printf("problems       %lld (seed %llu, %s)\n", static_cast<long long>(r.total.problems),
              static_cast<unsigned long long>(o.seed),
              o.temperature > 0 ? fmt::format("sampled at temperature {}", o.temperature).c_str() : "greedy");
  std::printf("accuracy       %.4f (%lld correct)\n", r.total.accuracy(), static_cast<long long>(r.total.correct));
  for (const auto& [kind, t] : r.by_kind)
    std::printf("  %-12s %.4f (%lld of %lld, %lld format errors)\n", kind.c_str(),
                t.accuracy(), static_cast<long long>(t.correct),
                static_cast<long long>(t.problems), static_cast<long long>(t.format_errors));
  std::printf("format errors  %lld\n", static_cast<long long>(r.total.format_errors));
  std::printf("think length   %.1f characters (mean over well-formed answers)\n", r.think_chars);
  std::printf("answer length  %.1f tokens (mean)\n", r.answer_tokens);
  return 0;
}

fathom::cli::Command reg("eval-arith", "Accuracy on the built-in arithmetic task (What is A + B? ...)",
                         [](CLI::App& sub) {
  auto o = std::make_shared<Options>();
  fathom::cli::add_model_flags(sub, o->model);
  sub.add_option("--n", o->n, "problems")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--seed", o->seed, "problem stream")->capture_default_str();
  sub.add_option("--max-tokens", o->max_tokens, "tokens per answer at most")->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--temp", o->temperature,
                 "0: greedy; above 0: sample each answer at this temperature, with no top-k/top-p/min-p as "
                 "train-grpo samples (seeded from --seed and the problem, so reruns repeat)")
      ->capture_default_str()->check(CLI::Range(0.0f, 10.0f));
  sub.add_flag("--show", o->show, "print every problem, completion and verdict");
  return std::function<int()>([o] { return run(*o); });
});

}  // namespace
