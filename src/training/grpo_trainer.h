// The GRPO loop of `fathom train-grpo` (grpo_objective.h has the objective): every step
//   1. takes `prompts` problems from the task (a pure function of (seed, step)),
//   2. samples `group` answers to each from the current policy with the inference engine
//      (generation/generator.h) running over the trainer's own parameter buffer — an inference
//      Model bound to the same memory (Model::over_weights), no file round-trip,
//   3. rewards them with the task's verifier and normalises the rewards within each group,
//   4. runs the frozen reference model (the --init weights) for log π_ref,
//   5. takes `iterations` AdamW steps on −J (μ of DeepSeekMath; with 1, π_old = π and ρ = 1),
//   6. logs mean reward, accuracy, format rate, answer length, KL, clip fraction, loss, grad norm.
//
// OUT_DIR after a save holds config.json, model.safetensors (f32), generation_config.json, the
// tokenizer files, grpo_state.safetensors (params, AdamW m and v, step, options: all --resume
// needs) and train_log.jsonl. Saves are atomic (written in OUT_DIR/.checkpoint.tmp, renamed),
// every save_every steps, every save_minutes, at the end and on SIGINT / SIGTERM; sampling seeds
// are functions of (seed, step, prompt, answer), so a resumed run continues as an uninterrupted one.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "training/grpo_objective.h"
#include "training/optimizer.h"
#include "training/verifier.h"

namespace fathom::train {

struct GrpoOptions {
  std::string init_dir;  // the starting policy and the frozen reference (a model with a tokenizer)
  std::string out_dir;
  int64_t steps = 100;        // with resume: 0 continues to the saved run's total
  int64_t prompts = 8;        // problems per step
  int64_t group = 8;          // G: answers per problem
  int64_t max_answer = 96;    // tokens per answer at most
  int64_t micro_batch = 8;    // rows per forward / backward (gradients add up over a step)
  int64_t iterations = 1;     // μ: optimizer steps on each batch of samples
  double lr = 1e-5, clip = 1.0;
  int64_t warmup = 0;
  AdamWConfig adamw{0.9, 0.95, 1e-8, 0.0};
  GrpoHyper hyper;
  float temperature = 1.0f;   // sampling from π itself: no top-k / top-p / min-p
  uint64_t seed = 0;
  int threads = 0;
  int64_t save_every = 0;
  double save_minutes = 10;
  bool resume = false;
  bool quiet = false;
  bool handle_signals = true;
  int64_t stop_after = -1;    // tests: stop after this step as if killed (no final save)
};

struct GrpoStepRecord {
  int64_t step = 0;  // 1-based
  double reward_mean = 0, accuracy = 0, format_rate = 0, answer_tokens = 0;
  GrpoStats stats;   // of the last iteration
  double grad_norm = 0, lr = 0, sample_s = 0, step_s = 0;
};

struct GrpoResult {
  int64_t steps = 0;
  int stop_signal = 0;
};

GrpoResult run_grpo(const GrpoOptions& opt, const Task& task,
                    const std::function<void(const GrpoStepRecord&)>& on_step = {});

}  // namespace fathom::train
