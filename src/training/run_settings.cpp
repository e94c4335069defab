#include "training/run_settings.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "core/error.h"

namespace fathom::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Fixed: part of what the run computes or writes, refused when given differently on --resume.
// Free: how often it saves and logs, restored unless given again.
enum class Change { Fixed, Free };

// Calls f(key, flag, field, change) for each saved setting of o: key in the saved JSON, flag the
// command-line option that sets it ("" for those without one). One list serves saving, restoring
// and checking.
template <typename Options, typename F>
void for_each_setting(Options& o, F&& g) {
  auto f = [&](const char* key, const char* flag, auto& field) { g(key, flag, field, Change::Fixed); };
  f("steps", "--steps", o.steps);
  f("batch", "--batch", o.batch);
  f("seq", "--seq", o.seq);
  f("lr", "--lr", o.lr);
  f("min_lr_ratio", "--min-lr-ratio", o.min_lr_ratio);
  f("warmup", "--warmup", o.warmup);
  f("clip", "--clip", o.clip);
  f("weight_decay", "--weight-decay", o.adamw.weight_decay);
  f("beta1", "", o.adamw.beta1);
  f("beta2", "", o.adamw.beta2);
  f("eps", "", o.adamw.eps);
  f("mtp_weight", "--mtp-weight", o.model.mtp_weight);
  f("balance_alpha", "--balance-alpha", o.model.balance_alpha);
  f("bias_update", "--bias-update", o.bias_update);
  f("seed", "--seed", o.seed);
  f("eval_every", "--eval-every", o.eval_every);
  f("eval_batches", "--eval-batches", o.eval_batches);
  f("save_dtype", "--save-dtype", o.save_dtype);
  f("precision", "--precision", o.precision);
  g("save_every", "--save-every", o.save_every, Change::Free);
  g("save_minutes", "--save-minutes", o.save_minutes, Change::Free);
  g("log_every", "--log-every", o.log_every, Change::Free);
}

template <typename T>
std::string shown(const char*, const T& v) {
  return fmt::format("{}", v);
}

// Sizes and a sample of tokens (fixed positions of both files): a regenerated or different data
// directory under the same name shows up here.
json data_fingerprint(const TokenData& d) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  auto eat = [&](int32_t t) {
    for (int i = 0; i < 4; ++i) h = (h ^ ((uint32_t(t) >> (8 * i)) & 0xff)) * 1099511628211ull;
  };
  const int64_t W = std::min<int64_t>(16, d.train_size());
  if (W > 0) {
    std::vector<int32_t> win(64 * W);
    d.train_batch(0x5eed, 0, 64, W, win.data());
    for (int32_t t : win) eat(t);
  }
  if (d.val_size() > 0)
    for (int64_t i = 0; i < 64; ++i) {
      int32_t t = 0;
      d.val_batch(i * d.val_size() / 64, 1, 1, 1, &t);
      eat(t);
    }
  return {{"vocab_size", d.meta().vocab_size}, {"train_tokens", d.train_size()}, {"val_tokens", d.val_size()},
          {"sample_hash", fmt::format("{:016x}", h)}};
}

}  // namespace

json saved_settings(const TrainOptions& o, const TokenData& data) {
  json j = json::object();
  for_each_setting(o, [&](const char* key, const char*, const auto& v, Change) { j[key] = v; });
  j["data"] = fs::absolute(o.data_dir).lexically_normal().string();
  j["data_fingerprint"] = data_fingerprint(data);
  return j;
}

void restore_settings(TrainOptions& o, const json& saved_as_written, const std::string& source) {
  json saved = saved_as_written;
  if (saved.contains("save_bf16") && !saved.contains("save_dtype") && saved["save_bf16"].is_boolean())
    saved["save_dtype"] = saved["save_bf16"].get<bool>() ? "bf16" : "f32";  // a run saved before --save-dtype fp8
  for_each_setting(o, [&](const char* key, const char* flag, auto& v, Change change) {
    using T = std::decay_t<decltype(v)>;
    if (!saved.contains(key)) return;  // an older checkpoint: keeps what was given or the default
    const bool given = *flag && o.given.count(flag);
    if (given && change == Change::Free) return;
    T was{};
    try {
      was = saved.at(key).get<T>();
    } catch (const json::exception&) {
      fail("{}: the saved setting '{}' is not a {}", source, key, std::is_same_v<T, std::string> ? "string" : "number");
    }
    if (given && v != was)
      fail("--resume: {} {} differs from the run's {} {} ({}); leave it out to continue the run, or start a new "
           "run with --init",
           flag, shown(flag, v), flag, shown(flag, was), source);
    v = was;
  });
  if (saved.contains("data") && saved["data"].is_string() && !o.given.count("--data")) o.data_dir = saved["data"];
}

void check_saved_data(const TrainOptions& o, const json& saved, const TokenData& data, const std::string& source) {
  if (!saved.contains("data_fingerprint")) return;  // an older checkpoint
  const json now = data_fingerprint(data);
  if (saved["data_fingerprint"] != now)
    fail("--resume: --data {} is not the data the run was trained on ({} holds {}, {} has {}); give the run's "
         "data directory{}",
         o.data_dir, source, saved["data_fingerprint"].dump(), o.data_dir, now.dump(),
         saved.contains("data") && saved["data"].is_string()
             ? fmt::format(" ({})", saved["data"].get<std::string>())
             : std::string());
}

}  // namespace fathom::train
