// fathom train: train a DeepSeek-V3-architecture model from scratch (or from --init) on data
// written by `fathom prepare`. See docs/TRAINING.md.
#include <memory>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "model/expert_parallel.h"
#include "training/trainer.h"

namespace {

fathom::cli::Command reg("train", "Train a DeepSeek-architecture model (MLA, MoE, MTP) on prepared token data",
                         [](CLI::App& sub) {
  auto o = std::make_shared<fathom::train::TrainOptions>();
  sub.add_option("--config", o->config_path, "model config (config.json style, model_type deepseek_v3)");
  sub.add_option("--data", o->data_dir, "directory from `fathom prepare` (train.bin, val.bin, meta.json); "
                 "with --resume, the run's own by default");
  sub.add_option("--out", o->out_dir, "output directory: checkpoint, training state, train_log.jsonl")->required();
  sub.add_option("--steps", o->steps, "total optimizer steps")->capture_default_str();
  sub.add_option("--batch", o->batch, "sequences per step")->capture_default_str();
  sub.add_option("--seq", o->seq, "tokens per sequence")->capture_default_str();
  sub.add_option("--lr", o->lr, "peak learning rate")->capture_default_str();
  sub.add_option("--min-lr-ratio", o->min_lr_ratio, "final learning rate / peak (cosine decay)")->capture_default_str();
  sub.add_option("--warmup", o->warmup, "linear warmup steps")->capture_default_str();
  sub.add_option("--weight-decay", o->adamw.weight_decay, "AdamW decoupled weight decay (Linear weights only)")
      ->capture_default_str();
  sub.add_option("--clip", o->clip, "global gradient-norm clip (0 = off)")->capture_default_str();
  sub.add_option("--mtp-weight", o->model.mtp_weight, "MTP loss weight λ")->capture_default_str();
  sub.add_option("--balance-alpha", o->model.balance_alpha, "sequence-wise balance loss weight α")->capture_default_str();
  sub.add_option("--bias-update", o->bias_update, "balancing bias speed γ (0 = off)")->capture_default_str();
  sub.add_option("--seed", o->seed, "seed of the initial weights and the data order")->capture_default_str();
  fathom::cli::add_threads_option(sub, o->threads, "--threads", "threads (0 = all cores)")->capture_default_str();
  sub.add_option("--eval-every", o->eval_every, "validation every N steps (0 = off)")->capture_default_str();
  sub.add_option("--eval-batches", o->eval_batches, "validation batches")->capture_default_str();
  sub.add_option("--save-every", o->save_every, "checkpoint every N steps (0 = off)")->capture_default_str();
  sub.add_option("--save-minutes", o->save_minutes, "checkpoint every M minutes of training (0 = off); always at "
                 "the end and on Ctrl-C")->capture_default_str()->check(CLI::NonNegativeNumber);
  sub.add_option("--log-every", o->log_every, "stderr line every N steps when not on a terminal")->capture_default_str();
  sub.add_option("--save-dtype", o->save_dtype, "model.safetensors dtype: f32 | bf16 | fp8 (DeepSeek-V3's layout: "
                 "F8_E4M3 Linears with 128x128 block scales, the rest bf16)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "bf16", "fp8"}));
  sub.add_option("--precision", o->precision, "arithmetic of the decoder layers' Linears: f32 | bf16 | fp8 (DeepSeek-V3's "
                 "FP8 recipe: E4M3 tiles with f32 accumulation; see docs/TRAINING.md)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "bf16", "fp8"}));
  sub.add_flag("--resume", o->resume, "continue from OUT's training_state.safetensors (bit-exact) with the run's "
               "saved settings; an option given with a different value is refused");
  sub.add_option("--init", o->init_dir, "initial weights from a Hugging Face checkpoint directory");
  // Tests only (hidden): end the run after step N as a crash would, keeping a --save-every checkpoint
  // taken at N, so a test can resume from a known step (e.g. with another rank count).
  sub.add_option("--stop-after", o->stop_after)->group("");
  return std::function<int()>([o, &sub] {
    for (const CLI::Option* opt : sub.get_options())
      if (opt->count() > 0)
        for (const std::string& name : opt->get_lnames()) o->given.insert("--" + name);
    o->expert_parallel = fathom::expert_parallel::active();  // the global --expert-parallel (main.cpp)
    const fathom::train::TrainResult r = fathom::train::run_training(*o);
    return r.stop_signal ? 128 + r.stop_signal : 0;  // stopped early (with a checkpoint): the shell's convention
  });
});

}  // namespace
