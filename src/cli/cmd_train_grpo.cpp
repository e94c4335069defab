// fathom train-grpo: reinforcement learning on verifiable rewards (GRPO, DeepSeekMath / R1) on the
// built-in arithmetic task, starting from --init. See docs/TRAINING.md "GRPO".
#include <memory>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "training/arith_task.h"
#include "training/grpo_trainer.h"

namespace {

fathom::cli::Command reg("train-grpo", "Reinforcement learning with GRPO on the arithmetic task (verifiable rewards)",
                         [](CLI::App& sub) {
  auto o = std::make_shared<fathom::train::GrpoOptions>();
  sub.add_option("--init", o->init_dir, "the model to start from (with tokenizer and chat template); also the frozen "
                 "KL reference");
  sub.add_option("--out", o->out_dir, "output directory: checkpoint, grpo_state.safetensors, train_log.jsonl")
      ->required();
  CLI::Option* steps = sub.add_option("--steps", o->steps, "total steps (with --resume: the run's own unless given)")
                           ->capture_default_str();
  sub.add_option("--prompts", o->prompts, "problems per step")->capture_default_str();
  sub.add_option("--group", o->group, "G: answers sampled per problem")->capture_default_str();
  sub.add_option("--max-answer", o->max_answer, "tokens per answer at most")->capture_default_str();
  sub.add_option("--micro-batch", o->micro_batch, "sequences per forward/backward pass")->capture_default_str();
  sub.add_option("--iterations", o->iterations, "μ: optimizer steps per batch of samples")->capture_default_str();
  sub.add_option("--lr", o->lr, "learning rate (constant after warmup)")->capture_default_str();
  sub.add_option("--warmup", o->warmup, "linear warmup steps")->capture_default_str();
  sub.add_option("--clip", o->clip, "global gradient-norm clip (0 = off)")->capture_default_str();
  sub.add_option("--weight-decay", o->adamw.weight_decay, "AdamW weight decay")->capture_default_str();
  sub.add_option("--clip-eps", o->hyper.clip_eps, "ε of the clipped policy ratio")->capture_default_str();
  sub.add_option("--beta", o->hyper.beta, "β: weight of the KL penalty to the reference")->capture_default_str();
  sub.add_option("--temperature", o->temperature, "sampling temperature")->capture_default_str();
  sub.add_option("--seed", o->seed, "seed of the problems and the sampling")->capture_default_str();
  fathom::cli::add_threads_option(sub, o->threads, "--threads", "threads (0 = all cores)")->capture_default_str();
  sub.add_option("--save-every", o->save_every, "checkpoint every N steps (0 = off)")->capture_default_str();
  sub.add_option("--save-minutes", o->save_minutes, "checkpoint every M minutes (0 = off); always at the end and on "
                 "Ctrl-C")->capture_default_str()->check(CLI::NonNegativeNumber);
  sub.add_flag("--resume", o->resume, "continue from OUT's grpo_state.safetensors with the run's saved options");
  return std::function<int()>([o, steps] {
    if (o->resume && steps->count() == 0) o->steps = 0;
    const fathom::train::ArithTask task;
    const fathom::train::GrpoResult r = fathom::train::run_grpo(*o, task);
    return r.stop_signal ? 128 + r.stop_signal : 0;
  });
});

}  // namespace
