// The training loop of `fathom train`: data windows -> forward/backward -> clip -> AdamW ->
// auxiliary-loss-free balancing (bias_e += γ·sign(mean load − load_e) per MoE layer) -> logs,
// validation, checkpoints.
//
// OUT_DIR after a save holds
//   config.json, model.safetensors      the model in the Hugging Face layout (f32 or bf16)
//   training_state.safetensors          f32 params, AdamW m and v, step and settings: all --resume needs
//   train_log.jsonl                     one JSON object per step (and per validation)
// Checkpoints are taken every save_every steps and every save_minutes of wall time, at the end, and
// when SIGINT / SIGTERM asks the run to stop (stop_signal.h). Each file is written complete and
// fsynced in OUT_DIR/.checkpoint.tmp/ and renamed into place, so a crash or kill -9 never leaves a
// half-written file; training_state.safetensors alone decides where --resume continues, and every
// random choice is a function of (seed, step), so resuming is bit-exact.
#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "training/optimizer.h"
#include "training/transformer.h"

namespace fathom::train {

struct TrainOptions {
  std::string config_path;  // MODEL.json (config.json style); optional with --init or --resume
  std::string data_dir, out_dir, init_dir;
  int64_t steps = 1000, batch = 8, seq = 128, warmup = 100;
  double lr = 1e-3, min_lr_ratio = 0.1, clip = 1.0;
  AdamWConfig adamw;
  TrainSettings model;          // λ (MTP weight), α (balance loss)
  double bias_update = 1e-3;    // γ of the auxiliary-loss-free balancing (0 = off)
  uint64_t seed = 0;
  int threads = 0;              // 0 = all cores
  int64_t eval_every = 100, eval_batches = 8;
  int64_t save_every = 0;       // checkpoint every N steps (0: off)
  double save_minutes = 10;     // checkpoint every M minutes of wall time (0: off)
  int64_t log_every = 10;       // plain stderr lines when not on a terminal
  bool resume = false;
  std::set<std::string> given;  // options typed on the command line ("--lr"): --resume checks them
  std::string save_dtype = "f32";  // model.safetensors: f32 | bf16 | fp8 (training_state is always f32)
  std::string precision = "f32";  // of the decoder layers' Linears: f32 | bf16 | fp8 (lowp_linear.h)
  bool quiet = false;           // no stderr output (tests)
  int64_t stop_after = -1;      // stop (as if interrupted) after this step, without a final save
  bool handle_signals = true;   // SIGINT / SIGTERM stop the run after a checkpoint (stop_signal.h)
  // --expert-parallel: each MoE layer's routed experts spread over the ranks, each rank with its own
  // slice of the batch (docs/DISTRIBUTED.md); on one rank, the same exchange path over one rank.
  bool expert_parallel = false;
};

struct StepRecord {
  int64_t step = 0;  // 1-based: steps completed
  StepLosses losses;
  double lr = 0, grad_norm = 0, tokens_per_s = 0, load_max_mean = 0;
};

struct TrainResult {
  int64_t steps = 0;   // steps completed (and saved, unless stop_after ended the run)
  int stop_signal = 0; // the signal that stopped the run early after a checkpoint, or 0
};

// Runs training. on_step (optional) sees every step. With --resume (opt.resume) the saved settings
// replace opt's (run_settings.h).
TrainResult run_training(const TrainOptions& opt, const std::function<void(const StepRecord&)>& on_step = {});

}  // namespace fathom::train
