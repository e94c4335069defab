#include "training/grpo_trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.h"
#include "cpu/thread_pool.h"
#include "generation/generator.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "training/chat_tokens.h"
#include "training/run_checkpoint.h"
#include "training/stop_signal.h"
#include "training/transformer.h"

namespace fathom::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json options_json(const GrpoOptions& o) {
  return {{"init", fs::absolute(o.init_dir).string()},
          {"steps", o.steps},
          {"prompts", o.prompts},
          {"group", o.group},
          {"max_answer", o.max_answer},
          {"micro_batch", o.micro_batch},
          {"iterations", o.iterations},
          {"lr", o.lr},
          {"clip", o.clip},
          {"warmup", o.warmup},
          {"weight_decay", o.adamw.weight_decay},
          {"clip_eps", o.hyper.clip_eps},
          {"beta", o.hyper.beta},
          {"temperature", o.temperature},
          {"seed", o.seed}};
}

// The saved run's options replace o's (threads, quiet and save cadence stay; steps too when given > 0).
void restore_options(GrpoOptions& o, const json& j) {
  o.init_dir = j.at("init").get<std::string>();
  if (o.steps <= 0) o.steps = j.at("steps").get<int64_t>();
  o.prompts = j.at("prompts");
  o.group = j.at("group");
  o.max_answer = j.at("max_answer");
  o.micro_batch = j.at("micro_batch");
  o.iterations = j.at("iterations");
  o.lr = j.at("lr");
  o.clip = j.at("clip");
  o.warmup = j.at("warmup");
  o.adamw.weight_decay = j.at("weight_decay");
  o.hyper.clip_eps = j.at("clip_eps");
  o.hyper.beta = j.at("beta");
  o.temperature = j.at("temperature");
  o.seed = j.at("seed");
}

// Everything --resume needs, assembled in OUT/.checkpoint.tmp and renamed into place (the state last).
void save(const GrpoOptions& o, const ModelConfig& cfg, Model& model, const OptimizerState& st) {
  const fs::path out(o.out_dir), tmp = out / ".checkpoint.tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  ModelConfig c = cfg;
  c.torch_dtype = "float32";
  write_model_config(tmp, c);
  save_params(model.layout(), model.params(), (tmp / "model.safetensors").string(), false,
              {{"fathom_grpo_step", std::to_string(st.step)}});
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"})
    if (fs::exists(fs::path(o.init_dir) / f)) fs::copy_file(fs::path(o.init_dir) / f, tmp / f);
  const float* parts[3] = {model.params(), st.m.data(), st.v.data()};
  write_optimizer_state(tmp / "grpo_state.safetensors", model.layout(), [&](int i) { return parts[i]; }, st.step,
                        options_json(o));
  commit_checkpoint(tmp, out, "grpo_state.safetensors");
}

uint64_t sample_seed(uint64_t seed, int64_t step, int64_t prompt, int64_t answer) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + uint64_t(step) * 0xBF58476D1CE4E5B9ull +
               uint64_t(prompt) * 0x94D049BB133111EBull + uint64_t(answer) + 1;
  z = (z ^ (z >> 31)) * 0xD6E8FEB86659FD93ull;
  return z ^ (z >> 32);
}

}  // namespace

GrpoResult run_grpo(const GrpoOptions& opt, const Task& task, const std::function<void(const GrpoStepRecord&)>& on_step) {
  GrpoOptions o = opt;
  const fs::path out(o.out_dir);
  const std::string state_path = (out / "grpo_state.safetensors").string();
  if (o.out_dir.empty()) fail("fathom train-grpo needs --out DIR");
  if (o.resume) {
    if (!fs::exists(state_path)) fail("--resume: {} has no grpo_state.safetensors to resume from", o.out_dir);
    restore_options(o, read_saved_options(state_path));
  }
  if (o.init_dir.empty()) fail("fathom train-grpo needs --init MODEL_DIR (the policy to start from; also the reference)");
  if (o.prompts < 1 || o.group < 2 || o.max_answer < 1 || o.micro_batch < 1 || o.iterations < 1)
    fail("GRPO needs --prompts >= 1, --group >= 2, --max-answer >= 1, --micro-batch >= 1, --iterations >= 1");
  const std::string cfg_path = (fs::path(o.init_dir) / "config.json").string();
  ModelConfig cfg = ModelConfig::from_json(io::read_json_file(cfg_path), cfg_path);
  cfg.quantization_config.reset();  // weights arrive as f32
  const tok::Tokenizer tok = tok::Tokenizer::load(o.init_dir);
  const ChatRenderer chat(tok);
  const int32_t eos = cfg.eos_token_id >= 0 ? int32_t(cfg.eos_token_id) : tok.eos_id();
  if (eos < 0) fail("{}: neither config.json nor the tokenizer names an EOS token", o.init_dir);

  // The sequence: the longest prompt among the first problems, plus the answer budget; each answer
  // is capped so that prompt + answer fits (the capacity is a function of the options only).
  int64_t longest = 0;
  for (int64_t i = 0; i < 512; ++i)
    longest = std::max<int64_t>(longest, int64_t(chat.prompt(task.item(o.seed, i).question).size()));
  const int64_t T = longest + 8 + o.max_answer - 1;
  if (T + 1 > cfg.max_position_embeddings)
    fail("prompt + --max-answer ({} tokens) exceeds the model's max_position_embeddings {}", T + 1,
         cfg.max_position_embeddings);

  cpu::ThreadPool pool(o.threads);
  const TrainSettings settings{0.0f, 0.0f};  // no MTP loss, no balance loss: the objective is −J alone
  Model model(cfg, o.micro_batch, T, &pool, settings);
  Model reference(cfg, o.micro_batch, T, &pool, settings);
  load_params(reference.layout(), reference.params(), o.init_dir);
  const ParamLayout& layout = model.layout();
  OptimizerState st;
  st.m.assign(layout.numel(), 0.0f);
  st.v.assign(layout.numel(), 0.0f);
  if (o.resume) {
    float* parts[3] = {model.params(), st.m.data(), st.v.data()};
    st.step = read_optimizer_state(state_path, layout, [&](int i, const float* src) {
      std::memcpy(parts[i], src, size_t(layout.numel()) * 4);
    });
  } else {
    std::memcpy(model.params(), reference.params(), size_t(layout.numel()) * 4);
  }

  fs::create_directories(out);
  const fs::path log_path = out / "train_log.jsonl";
  if (!o.resume)
    write_text(log_path, "");
  else  // drop the lines of steps after the checkpoint: they are redone
    truncate_log(log_path, st.step);
  std::ofstream log(log_path, std::ios::app);
  auto say = [&](const std::string& s) {
    if (!o.quiet) std::fprintf(stderr, "%s\n", s.c_str());
  };
  say(fmt::format("fathom train-grpo: {} parameters, {} prompts x {} answers per step, answers <= {} tokens, "
                  "sequence {}, {} threads, steps {}..{}",
                  layout.numel(), o.prompts, o.group, o.max_answer, T, pool.size(), st.step + 1, o.steps));

  const Ops ops{&pool, nullptr, 0};
  const LrSchedule sched{o.lr, o.lr, o.warmup, o.steps};
  const int64_t W = model.window(), B = o.micro_batch, M = o.prompts * o.group;
  std::vector<int32_t> windows(B * W);
  std::unique_ptr<StopSignal> stop;
  if (o.handle_signals) stop = std::make_unique<StopSignal>(!o.quiet);
  auto t_saved = std::chrono::steady_clock::now();

  for (int64_t step = st.step; step < o.steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    GrpoStepRecord rec;
    rec.step = step + 1;
    // Sampling from the current weights: an inference model over the trainer's buffer.
    std::vector<GrpoSample> samples;
    samples.reserve(size_t(M));
    {
      const auto policy = fathom::Model::over_weights(cfg, model.weights());
      Generator gen(*policy, tok, T + 1, Exec::fast(&pool));
      for (int64_t p = 0; p < o.prompts; ++p) {
        const TaskItem item = task.item(o.seed, step * o.prompts + p);
        const std::string ptext = chat.prompt_text(item.question);
        const std::vector<int32_t> prompt = tok.encode(ptext);
        const std::string prefix = ChatRenderer::answer_prefix(ptext);
        std::vector<double> rewards;
        for (int64_t g = 0; g < o.group; ++g) {
          GenerationRequest req;
          req.prompt = prompt;
          req.max_tokens = std::min<int64_t>(o.max_answer, T + 1 - int64_t(prompt.size()));
          req.sampling = SamplerParams::plain(o.temperature);
          req.sampling.seed = sample_seed(o.seed, step, p, g);
          req.stop_tokens = {eos};
          GenerationResult r = gen.generate(req);
          GrpoSample s;
          s.prompt = prompt;
          s.answer = r.tokens;
          if (r.finish == FinishReason::Eos || s.answer.empty()) s.answer.push_back(eos);
          if (int64_t(s.answer.size()) > req.max_tokens) s.answer.resize(size_t(req.max_tokens));
          const Verdict verdict = task.verify(item, prefix + r.text);
          rewards.push_back(verdict.reward);
          rec.reward_mean += verdict.reward / double(M);
          rec.accuracy += (verdict.correct ? 1.0 : 0.0) / double(M);
          rec.format_rate += (verdict.format_ok ? 1.0 : 0.0) / double(M);
          rec.answer_tokens += double(s.answer.size()) / double(M);
          samples.push_back(std::move(s));
        }
        const auto adv = group_advantages(rewards);
        for (int64_t g = 0; g < o.group; ++g) samples[size_t(p * o.group + g)].advantage = adv[size_t(g)];
      }
    }
    rec.sample_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // log π_ref of every answer token (frozen reference, forward only).
    for (int64_t first = 0; first < M; first += B) {
      grpo_windows(samples, first, B, T, W, eos, windows.data());
      reference.set_loss_weights(record_reference_logp(samples, first, B, T));
      reference.step(windows.data(), false);
    }
    rec.lr = sched.at(step);
    for (int64_t it = 0; it < o.iterations; ++it) {
      rec.stats = GrpoStats{};
      model.zero_grad();
      for (int64_t first = 0; first < M; first += B) {
        grpo_windows(samples, first, B, T, W, eos, windows.data());
        model.set_loss_weights(grpo_weights(samples, first, B, T, M, o.hyper, &rec.stats));
        model.step(windows.data(), true);
      }
      if (!std::isfinite(rec.stats.objective)) fail("step {}: the GRPO objective is not finite", step + 1);
      rec.grad_norm = clip_grad_norm(ops, layout, model.grads(), o.clip);
      adamw_step(ops, layout, model.params(), model.grads(), st.m.data(), st.v.data(), step * o.iterations + it + 1, rec.lr,
                 o.adamw);
    }
    rec.step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    st.step = rec.step;  // the weights and moments now hold this step
    json j = {{"step", rec.step},
              {"reward_mean", rec.reward_mean},
              {"accuracy", rec.accuracy},
              {"format_rate", rec.format_rate},
              {"answer_tokens", rec.answer_tokens},
              {"kl", rec.stats.kl},
              {"clip_fraction", rec.stats.clip_fraction()},
              {"loss", rec.stats.loss()},
              {"grad_norm", rec.grad_norm},
              {"lr", rec.lr},
              {"sample_s", rec.sample_s},
              {"step_s", rec.step_s}};
    log << j.dump() << "\n" << std::flush;
    if (on_step) on_step(rec);
    say(fmt::format("step {:>5}/{} | reward {:.3f} | acc {:.3f} | format {:.3f} | len {:.1f} | kl {:.4f} | clip {:.3f} "
                    "| gnorm {:.3f} | {:.1f}s (sampling {:.1f}s)",
                    rec.step, o.steps, rec.reward_mean, rec.accuracy, rec.format_rate, rec.answer_tokens, rec.stats.kl,
                    rec.stats.clip_fraction(), rec.grad_norm, rec.step_s, rec.sample_s));

    const bool last = rec.step == o.steps, by_steps = o.save_every > 0 && rec.step % o.save_every == 0;
    if (o.stop_after >= 0 && rec.step >= o.stop_after && !last) {
      if (by_steps) save(o, cfg, model, st);
      return {rec.step, 0};
    }
    const auto now = std::chrono::steady_clock::now();
    const bool by_time =
        o.save_minutes > 0 && std::chrono::duration<double>(now - t_saved).count() >= o.save_minutes * 60.0;
    const int sig = stop ? stop->requested() : 0;
    if (last || by_steps || by_time || sig) {
      save(o, cfg, model, st);
      t_saved = now;
    }
    if (sig && !last) {
      say(fmt::format("stopped by {} after step {}; checkpoint saved in {}. Continue with: fathom train-grpo --out {} "
                      "--resume",
                      signal_description(sig), rec.step, o.out_dir, o.out_dir));
      return {rec.step, sig};
    }
  }
  say(fmt::format("done: {} steps, checkpoint in {}", o.steps, o.out_dir));
  return {o.steps, 0};
}

}  // namespace fathom::train
