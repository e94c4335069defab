#include "training/trainer.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "cpu/thread_pool.h"
#include "dist/comm.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "training/data.h"
#include "training/data_parallel.h"
#include "training/loss_weights.h"
#include "training/run_checkpoint.h"
#include "training/run_settings.h"
#include "training/sharded_state.h"
#include "training/stop_signal.h"

namespace fathom::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void save_checkpoint(const TrainOptions& o, const ModelConfig& cfg, const DataMeta& meta, const json& settings,
                     const ParamLayout& layout, const StatePart& part, int64_t step_count) {
  const fs::path out(o.out_dir), tmp = out / ".checkpoint.tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const std::string step = std::to_string(step_count);

  ModelConfig c = cfg;
  c.torch_dtype = o.save_dtype == "f32" ? "float32" : "bfloat16";
  if (o.save_dtype == "fp8") c.quantization_config = QuantizationConfig{"fp8", "e4m3", "dynamic", {128, 128}};
  if (c.bos_token_id < 0 && meta.bos_id >= 0) c.bos_token_id = meta.bos_id;
  if (c.eos_token_id < 0 && meta.eos_id >= 0) c.eos_token_id = meta.eos_id;
  write_model_config(tmp, c);
  const float* params = part(0);
  if (o.save_dtype == "fp8")
    save_params_fp8(layout, params, (tmp / "model.safetensors").string(), {{"fathom_step", step}});
  else
    save_params(layout, params, (tmp / "model.safetensors").string(), o.save_dtype == "bf16",
                {{"fathom_step", step}});

  write_optimizer_state(tmp / "training_state.safetensors", layout,
                        [&](int i) { return i == 0 ? params : part(i); }, step_count, settings);

  // The tokenizer travels with the model so `fathom run OUT_DIR` works (copied once).
  if (!meta.tokenizer.empty())
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
      const fs::path src = fs::path(meta.tokenizer) / f;
      if (fs::exists(src) && !fs::exists(out / f)) fs::copy_file(src, tmp / f);
    }
  commit_checkpoint(tmp, out, "training_state.safetensors");
}

double load_imbalance(const std::vector<std::vector<int32_t>>& load, std::vector<double>* per_layer) {
  double sum = 0;
  for (const auto& l : load) {
    double tot = 0, mx = 0;
    for (int32_t c : l) {
      tot += c;
      mx = std::max(mx, double(c));
    }
    const double r = tot > 0 ? mx / (tot / double(l.size())) : 0.0;
    per_layer->push_back(r);
    sum += r;
  }
  return load.empty() ? 0.0 : sum / double(load.size());
}

std::string duration(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{:.0f}m{:02.0f}s", std::floor(s / 60), std::fmod(s, 60));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(s / 3600), std::fmod(s / 60, 60));
}

}  // namespace

TrainResult run_training(const TrainOptions& opt, const std::function<void(const StepRecord&)>& on_step) {
  TrainOptions o = opt;
  const fs::path out(o.out_dir);
  // The model config: the run's own on --resume, else --config, else the --init checkpoint's.
  std::string cfg_path = o.config_path;
  json saved;  // --resume: the run's settings
  const std::string state_path = (out / "training_state.safetensors").string();
  if (o.resume) {
    cfg_path = (out / "config.json").string();
    if (!fs::exists(state_path))
      fail("--resume: {} has no training_state.safetensors to resume from (no checkpoint was saved yet: start "
           "the run again without --resume)",
           o.out_dir);
    if (!o.init_dir.empty()) fail("--resume continues from {}'s own weights: leave out --init", o.out_dir);
    saved = read_saved_options(state_path);
    restore_settings(o, saved, state_path);
    // The run's config.json is the given one plus torch_dtype and the data's bos / eos ids.
    auto model_fields = [](const std::string& p) {
      json j = ModelConfig::from_json(io::read_json_file(p), p).to_json();
      for (const char* k : {"torch_dtype", "bos_token_id", "eos_token_id"}) j.erase(k);
      return j;
    };
    if (!o.config_path.empty() && model_fields(o.config_path) != model_fields(cfg_path))
      fail("--resume: --config {} differs from the run's {}; leave it out to continue the run", o.config_path,
           cfg_path);
  } else if (cfg_path.empty() && !o.init_dir.empty()) {
    cfg_path = (fs::path(o.init_dir) / "config.json").string();
  }
  if (cfg_path.empty()) fail("fathom train needs --config MODEL.json (or --init DIR, or --resume)");
  if (o.data_dir.empty()) fail("fathom train needs --data DIR (written by `fathom prepare`)");
  ModelConfig cfg = ModelConfig::from_json(io::read_json_file(cfg_path), cfg_path);
  // --init weights arrive dequantized to f32 (load_params): the model trained and saved is f32.
  if (!o.resume && !o.init_dir.empty()) cfg.quantization_config.reset();

  TokenData data(o.data_dir);
  if (data.meta().vocab_size > cfg.vocab_size)
    fail("{}: the data's vocab_size {} exceeds the model's {}", o.data_dir, data.meta().vocab_size, cfg.vocab_size);
  if (o.resume) check_saved_data(o, saved, data, state_path);
  const json settings = saved_settings(o, data);

  if (!parse_precision(o.precision, &o.model.precision))
    fail("--precision {} is not one of f32, bf16, fp8", o.precision);
  o.adamw.bf16_moments = o.model.precision != Precision::F32;

  // Data parallel (data_parallel.h): this rank's slice of the global batch; rank 0 alone speaks.
  const DataParallel dp(o.batch);
  // Masked data's loss is a mean over the whole batch's targets, which a rank's slice does not see.
  if (dp.ranks() > 1 && data.meta().loss_mask)
    fail("{}: data-parallel training of masked (prepare --chat) data is not built yet; train it on one process",
         o.data_dir);
  if (!dist::is_root()) o.quiet = true;
  cpu::ThreadPool pool(DataParallel::threads(o.threads));
  // Expert parallel: this rank's routed experts only (their weights, gradients and moments).
  const ExpertShard shard = o.expert_parallel ? ExpertShard{dist::rank(), dist::size()} : ExpertShard{};
  Model model(cfg, dp.local_batch(), o.seq, &pool, o.model, shard);
  const ParamLayout& layout = model.layout();
  const ParamLayout full_layout(cfg);  // what checkpoints hold
  OptimizerState st;
  st.m.assign(layout.numel(), 0.0f);
  st.v.assign(layout.numel(), 0.0f);
  if (o.resume) {
    // Every rank takes its own part (sharded_state.h): the file is the full layout's whatever the
    // rank count or expert parallelism of the run that wrote it.
    float* local[3] = {model.params(), st.m.data(), st.v.data()};
    st.step = read_optimizer_state(state_path, full_layout, [&](int i, const float* src) {
      take_local(layout, full_layout, src, local[i]);
    });
  } else if (!o.init_dir.empty()) {
    load_params(layout, model.params(), o.init_dir);
  } else {
    init_params(layout, model.params(), o.seed);
  }

  const fs::path log_path = out / "train_log.jsonl";
  std::ofstream log;  // left closed on ranks other than 0 (writes to it do nothing)
  if (dist::is_root()) {
    fs::create_directories(out);
    if (o.resume)
      truncate_log(log_path, st.step);
    else
      write_text(log_path, "");
    log.open(log_path, std::ios::app);
  }

  const bool tty = !o.quiet && isatty(2);
  auto say = [&](const std::string& s) {
    if (o.quiet) return;
    std::fprintf(stderr, "%s%s\n", tty ? "\r\033[K" : "", s.c_str());
  };
  if (dp.ranks() > 1)
    say(fmt::format("fathom train: data parallel over {} ranks, {} sequences each", dp.ranks(), dp.local_batch()));
  if (shard.active())
    say(fmt::format("fathom train: expert parallel over {} ranks, this rank's parameters {:.1f} MB of {:.1f} MB",
                    shard.ranks, double(layout.numel()) * 4 / 1e6, double(full_layout.numel()) * 4 / 1e6));
  say(fmt::format("fathom train: {} parameters ({:.1f} MB f32), activations {:.1f} MB, {} threads, batch {}x{}, "
                  "{} steps from step {}, {} Linears",
                  layout.numel(), double(layout.numel()) * 4 / 1e6, double(model.activation_bytes()) / 1e6,
                  pool.size(), o.batch, o.seq, o.steps, st.step, o.precision));

  const int64_t W = model.window();
  std::vector<int32_t> windows(o.batch * W);
  // Masked data (prepare --chat): the loss is the mean over the mask's targets (loss_weights.h).
  std::vector<uint8_t> mask(data.meta().loss_mask ? o.batch * W : 0);
  uint8_t* const mask_ptr = mask.empty() ? nullptr : mask.data();
  if (mask_ptr) model.set_loss_weights(masked_mean_weights(mask_ptr, o.batch, o.seq, W));
  const Ops ops{&pool, nullptr, 0};
  const LrSchedule sched{o.lr, o.lr * o.min_lr_ratio, o.warmup, o.steps};
  const int64_t K = cfg.num_experts_per_tok, E = cfg.n_routed_experts;

  auto evaluate = [&](int64_t step) {
    const int64_t nwin = data.val_windows(o.seq, W);
    if (nwin == 0) return;
    const int64_t nb = std::max<int64_t>(1, std::min(o.eval_batches, nwin / o.batch));
    double loss = 0, mtp = 0;
    for (int64_t i = 0; i < nb; ++i) {
      data.val_batch(i * o.batch, o.batch, o.seq, W, windows.data(), mask_ptr);
      StepLosses l = model.step(windows.data() + dp.first_row() * W, false);
      dp.reduce_losses(&l);
      loss += l.loss / double(nb);
      mtp += l.mtp_loss / double(nb);
    }
    json j = {{"step", step}, {"val_loss", loss}};
    if (cfg.num_nextn_predict_layers > 0) j["val_mtp_loss"] = mtp;
    log << j.dump() << "\n" << std::flush;
    say(fmt::format("step {:>6} | val loss {:.4f}{}", step, loss,
                    cfg.num_nextn_predict_layers > 0 ? fmt::format(" | val mtp loss {:.4f}", mtp) : ""));
  };

  // From here on a first Ctrl-C / SIGTERM stops the run after the current step and a checkpoint.
  std::unique_ptr<StopSignal> stop;
  if (o.handle_signals) stop = std::make_unique<StopSignal>(!o.quiet);
  auto save = [&] {
    const float* local[3] = {model.params(), st.m.data(), st.v.data()};
    if (!shard.active()) {
      if (dist::is_root())
        save_checkpoint(o, cfg, data.meta(), settings, layout, [&](int i) { return local[i]; }, st.step);
      return;
    }
    // Every rank sends its experts; rank 0 alone holds (one buffer at a time) and writes the whole.
    std::vector<float> whole(dist::is_root() ? full_layout.numel() : 0);
    const StatePart gather = [&](int i) {
      gather_full(layout, full_layout, local[i], whole.data());
      return static_cast<const float*>(whole.data());
    };
    if (dist::is_root())
      save_checkpoint(o, cfg, data.meta(), settings, full_layout, gather, st.step);
    else
      for (int i = 0; i < 3; ++i) gather(i);
  };
  const auto t_start = std::chrono::steady_clock::now();
  auto t_saved = t_start;
  const int64_t first = st.step;
  for (int64_t step = st.step; step < o.steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    data.train_batch(o.seed, step, o.batch, W, windows.data(), mask_ptr);
    model.zero_grad();
    StepRecord rec;
    rec.losses = model.step(windows.data() + dp.first_row() * W, true);
    dp.reduce_step(&rec.losses, layout, model.grads());
    if (!std::isfinite(rec.losses.total)) fail("step {}: the loss is not finite ({})", step + 1, rec.losses.total);
    rec.grad_norm = clip_grad_norm(ops, layout, model.grads(), o.clip);
    rec.lr = sched.at(step);
    adamw_step(ops, layout, model.params(), model.grads(), st.m.data(), st.v.data(), step + 1, rec.lr, o.adamw);
    // Auxiliary-loss-free balancing: push each expert's bias toward the mean load.
    auto load = model.expert_load();
    dp.sum_load(&load);
    if (o.bias_update > 0) {
      const auto biases = model.router_biases();
      const double mean = double(o.batch * o.seq * K) / double(std::max<int64_t>(E, 1));
      for (size_t l = 0; l < load.size(); ++l) {
        if (!biases[l]) continue;
        for (int64_t e = 0; e < E; ++e) {
          const double d = mean - double(load[l][e]);
          biases[l][e] += float(o.bias_update * double((d > 0) - (d < 0)));
        }
      }
    }
    std::vector<double> per_layer;
    rec.load_max_mean = load_imbalance(load, &per_layer);
    st.step = step + 1;
    rec.step = st.step;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rec.tokens_per_s = double(o.batch * o.seq) / dt;

    json j = {{"step", rec.step}, {"loss", rec.losses.loss}, {"lr", rec.lr}, {"grad_norm", rec.grad_norm},
              {"tokens_per_s", rec.tokens_per_s}, {"step_s", dt}};
    if (cfg.num_nextn_predict_layers > 0) j["mtp_loss"] = rec.losses.mtp_loss;
    if (!load.empty()) {
      j["balance_loss"] = rec.losses.balance;
      j["load_max_mean"] = rec.load_max_mean;
      j["load_max_mean_layers"] = per_layer;
      j["expert_load"] = load;  // tokens routed to each expert, per MoE layer (main, then MTP)
    }
    log << j.dump() << "\n" << std::flush;
    if (on_step) on_step(rec);

    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    const double eta = elapsed / double(st.step - first) * double(o.steps - st.step);
    std::string line = fmt::format("step {:>6}/{} | loss {:.4f}", st.step, o.steps, rec.losses.loss);
    if (cfg.num_nextn_predict_layers > 0) line += fmt::format(" | mtp {:.4f}", rec.losses.mtp_loss);
    line += fmt::format(" | lr {:.2e} | gnorm {:.3f} | {:.0f} tok/s", rec.lr, rec.grad_norm, rec.tokens_per_s);
    if (!load.empty()) line += fmt::format(" | load max/mean {:.2f}", rec.load_max_mean);
    line += " | eta " + duration(eta);
    if (tty) {
      const int width = 20, done = int(double(width) * double(st.step) / double(o.steps));
      std::fprintf(stderr, "\r\033[K[%s%s] %s", std::string(done, '#').c_str(), std::string(width - done, '.').c_str(),
                   line.c_str());
      std::fflush(stderr);
    } else if (!o.quiet && (st.step % std::max<int64_t>(o.log_every, 1) == 0 || st.step == o.steps || step == first)) {
      std::fprintf(stderr, "%s\n", line.c_str());
    }

    if (o.eval_every > 0 && (st.step % o.eval_every == 0 || st.step == o.steps)) evaluate(st.step);
    const bool last = st.step == o.steps;
    const bool by_steps = o.save_every > 0 && st.step % o.save_every == 0;
    if (o.stop_after >= 0 && st.step >= o.stop_after && !last) {  // tests: a crash after this step
      if (by_steps) save();
      return {st.step, 0};
    }
    const auto now = std::chrono::steady_clock::now();
    bool by_time =
        o.save_minutes > 0 && std::chrono::duration<double>(now - t_saved).count() >= o.save_minutes * 60.0;
    // An expert-parallel checkpoint is a collective (gather_full): every rank must agree to take it.
    if (shard.active()) by_time = dist::allreduce_max(by_time ? 1 : 0) != 0;
    const int sig = DataParallel::agree_stop(stop ? stop->requested() : 0);
    if (last || by_steps || by_time || sig) {
      save();
      t_saved = now;
      if (!last && !sig) say(fmt::format("step {:>6} | saved {}", st.step, o.out_dir));
    }
    if (sig && !last) {
      say(fmt::format("stopped by {} after step {}/{}; checkpoint saved in {}. Continue with: fathom train --out {} "
                      "--resume",
                      signal_description(sig), st.step, o.steps, o.out_dir, o.out_dir));
      return {st.step, sig};
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  say(fmt::format("done: {} steps, checkpoint in {}", st.step, o.out_dir));
  return {st.step, 0};
}

}  // namespace fathom::train
