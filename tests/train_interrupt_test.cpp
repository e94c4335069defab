// Training that is interrupted: Ctrl-C / SIGTERM stop after the step with a checkpoint (a second one
// at once), --resume takes back every saved setting and refuses a changed one, and a run killed
// with SIGKILL at random moments, 20 times, then resumed, ends with exactly the weights of a run
// that was never interrupted, while every checkpoint left behind stays readable.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "test_paths.h"
#include "test_util.h"
#include "train_util.h"
#include "training/optimizer.h"
#include "training/trainer.h"

extern char** environ;

namespace fathom::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string scratch(const std::string& name) { return ::fathom::test::scratch_dir("train_interrupt/" + name); }


struct TinyRun {
  std::string root, config, data;
};

TinyRun tiny_setup(const std::string& name) {
  TinyRun s;
  s.root = scratch(name);
  s.data = (fs::path(s.root) / "data").string();
  fs::create_directories(s.data);
  test::write_data(s.data, test::tiny_config().vocab_size, 4000, 600);
  s.config = (fs::path(s.root) / "model.json").string();
  std::ofstream(s.config) << test::tiny_config().to_json().dump(2);
  return s;
}

TrainOptions tiny_options(const TinyRun& s, const std::string& out) {
  TrainOptions o;
  o.config_path = s.config;
  o.data_dir = s.data;
  o.out_dir = (fs::path(s.root) / out).string();
  o.steps = 6;
  o.batch = 2;
  o.seq = 8;
  o.warmup = 2;
  o.lr = 3e-3;
  o.seed = 9;
  o.threads = 2;
  o.eval_every = 3;
  o.eval_batches = 2;
  o.save_minutes = 0;
  o.quiet = true;
  return o;
}

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(f), {});
}

// The log without its timings: what must be identical between two runs.
std::vector<json> log_values(const std::string& dir) {
  std::ifstream in(dir + "/train_log.jsonl");
  std::vector<json> out;
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    j.erase("tokens_per_s");
    j.erase("step_s");
    out.push_back(j);
  }
  return out;
}

int64_t saved_step(const std::string& dir) {
  io::SafetensorsFile f(dir + "/training_state.safetensors");
  return std::stoll(f.metadata().at("step"));
}

json saved_options(const std::string& dir) {
  io::SafetensorsFile f(dir + "/training_state.safetensors");
  return json::parse(f.metadata().at("options"));
}

void expect_same_final_state(const std::string& a, const std::string& b) {
  for (const char* f : {"training_state.safetensors", "model.safetensors", "config.json"})
    EXPECT_TRUE(file_bytes(a + "/" + f) == file_bytes(b + "/" + f)) << f << " differs between " << a << " and " << b;
  EXPECT_EQ(log_values(a), log_values(b));
}

TEST(TrainStop, SigintSavesAfterTheStepAndResumeIsBitExact) {
  const TinyRun s = tiny_setup("sigint");
  TrainOptions a = tiny_options(s, "straight");
  EXPECT_EQ(run_training(a).steps, 6);

  TrainOptions b = tiny_options(s, "stopped");
  const TrainResult r = run_training(b, [](const StepRecord& rec) {
    if (rec.step == 4) std::raise(SIGINT);  // Ctrl-C during step 4
  });
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(r.stop_signal, SIGINT);
  EXPECT_EQ(saved_step(b.out_dir), 4);
  // Resumed with nothing but the directory: the batch, schedule, seed, data... come from the run.
  TrainOptions c;
  c.out_dir = b.out_dir;
  c.resume = true;
  c.quiet = true;
  const TrainResult rc = run_training(c);
  EXPECT_EQ(rc.steps, 6);
  EXPECT_EQ(rc.stop_signal, 0);
  expect_same_final_state(a.out_dir, b.out_dir);
  EXPECT_EQ(saved_options(a.out_dir), saved_options(b.out_dir));
}

TEST(TrainStop, SigtermStopsTheSameWay) {
  const TinyRun s = tiny_setup("sigterm");
  TrainOptions b = tiny_options(s, "out");
  const TrainResult r = run_training(b, [](const StepRecord& rec) {
    if (rec.step == 2) std::raise(SIGTERM);
  });
  EXPECT_EQ(r.steps, 2);
  EXPECT_EQ(r.stop_signal, SIGTERM);
  EXPECT_EQ(saved_step(b.out_dir), 2);
}

TEST(TrainStopDeathTest, SecondCtrlCExitsAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const TinyRun s = tiny_setup("twice");
  TrainOptions b = tiny_options(s, "out");
  b.quiet = false;
  EXPECT_EXIT(run_training(b,
                           [](const StepRecord& rec) {
                             if (rec.step == 2) {
                               std::raise(SIGINT);
                               std::raise(SIGINT);  // does not return
                             }
                           }),
              testing::ExitedWithCode(128 + SIGINT), "stopped at once");
  // It did not wait to save: the run had no checkpoint yet, and still has none.
  EXPECT_FALSE(fs::exists(b.out_dir + "/training_state.safetensors"));
}

// What the user typed is checked against what the run saved; what they left out is taken from it.
TEST(TrainResume, RefusesASettingGivenDifferentlyAndNamesIt) {
  const TinyRun s = tiny_setup("refuse");
  auto options = [&] {
    TrainOptions o = tiny_options(s, "out");
    o.steps = 2;
    return o;
  };
  run_training(options());
  struct Case {
    const char* flag;
    std::function<void(TrainOptions&)> change;
  };
  const std::vector<Case> cases = {
      {"--steps", [](TrainOptions& o) { o.steps = 7; }},
      {"--batch", [](TrainOptions& o) { o.batch = 3; }},
      {"--seq", [](TrainOptions& o) { o.seq = 9; }},
      {"--seed", [](TrainOptions& o) { o.seed = 1; }},
      {"--lr", [](TrainOptions& o) { o.lr = 1e-3; }},
      {"--warmup", [](TrainOptions& o) { o.warmup = 100; }},
      {"--min-lr-ratio", [](TrainOptions& o) { o.min_lr_ratio = 0.5; }},
      {"--weight-decay", [](TrainOptions& o) { o.adamw.weight_decay = 0.0; }},
      {"--clip", [](TrainOptions& o) { o.clip = 0.5; }},
      {"--mtp-weight", [](TrainOptions& o) { o.model.mtp_weight = 0.5f; }},
      {"--balance-alpha", [](TrainOptions& o) { o.model.balance_alpha = 0.0f; }},
      {"--bias-update", [](TrainOptions& o) { o.bias_update = 0.0; }},
      {"--eval-every", [](TrainOptions& o) { o.eval_every = 5; }},
      {"--save-dtype", [](TrainOptions& o) { o.save_dtype = "bf16"; }},
      {"--precision", [](TrainOptions& o) { o.precision = "fp8"; }},
  };
  for (const Case& c : cases) {
    TrainOptions r = options();
    r.resume = true;
    c.change(r);
    r.given = {c.flag};
    try {
      run_training(r);
      ADD_FAILURE() << c.flag << " given differently was accepted";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(c.flag), std::string::npos) << e.what();
    }
    // The same value typed again is fine (the run is complete: nothing to do).
    TrainOptions same = options();
    same.resume = true;
    same.given = {c.flag};
    EXPECT_EQ(run_training(same).steps, 2) << c.flag;
  }
  // Other data under --data: refused, naming it.
  const std::string other = (fs::path(s.root) / "other-data").string();
  fs::create_directories(other);
  test::write_data(other, test::tiny_config().vocab_size, 4001, 600);
  TrainOptions r = options();
  r.resume = true;
  r.data_dir = other;
  r.given = {"--data"};
  try {
    run_training(r);
    ADD_FAILURE() << "other data was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("--data"), std::string::npos) << e.what();
  }
}

// ---- the command line, as separate processes ------------------------------------------------------

pid_t spawn(const std::vector<std::string>& args, const std::string& output) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) ADD_FAILURE() << "posix_spawn " << args[0] << ": " << std::strerror(rc);
  return rc == 0 ? pid : -1;
}

// Exit code, or 128 + the signal that ended it.
int wait_for(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// wait_for with a hang guard: a run that should have stopped by itself but goes on (a refusal that
// did not happen, on a run of a million steps) is killed after 2 minutes and reported.
int wait_for_exit(pid_t pid, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ADD_FAILURE() << what << ": still running after 2 minutes";
  kill(pid, SIGKILL);
  return wait_for(pid);
}

// The largest step in DIR/train_log.jsonl (complete lines only), 0 if none.
int64_t logged_step(const std::string& dir) {
  std::ifstream in(dir + "/train_log.jsonl");
  int64_t step = 0;
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("loss")) step = std::max(step, j["step"].get<int64_t>());
  }
  return step;
}

// Waits until the child has logged `step` (true) or has exited (false, its status in *status).
bool wait_for_step(pid_t pid, const std::string& dir, int64_t step, int* status) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);  // a hang guard only
  while (std::chrono::steady_clock::now() < deadline) {
    if (logged_step(dir) >= step) return true;
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  ADD_FAILURE() << "no step " << step << " after 2 minutes";
  kill(pid, SIGKILL);
  *status = wait_for(pid);
  return false;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::vector<std::string> train_args(const TinyRun& s, const std::string& out, const std::vector<std::string>& extra) {
  std::vector<std::string> a = {FATHOM_BINARY, "train", "--config", s.config, "--data", s.data, "--out", out,
                                "--batch", "2", "--seq", "8", "--lr", "0.002", "--warmup", "3", "--seed", "4",
                                "--threads", "1", "--save-minutes", "0"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(TrainCli, CtrlCSavesAndResumeContinuesTheSavedRun) {
  const TinyRun s = tiny_setup("cli-sigint");
  const std::string out = s.root + "/out", log = s.root + "/stderr.txt";
  // A run far too long to finish: it is stopped with SIGINT once it has logged 3 steps.
  pid_t pid = spawn(train_args(s, out, {"--steps", "1000000", "--eval-every", "0"}), log);
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_TRUE(wait_for_step(pid, out, 3, &status)) << "exited early with " << status << ":\n" << read_text(log);
  kill(pid, SIGINT);
  EXPECT_EQ(wait_for_exit(pid, "the run stopped with SIGINT"), 128 + SIGINT);
  const std::string said = read_text(log);
  const int64_t n = saved_step(out);
  EXPECT_GE(n, 3);
  EXPECT_EQ(logged_step(out), n) << "the checkpoint is of the last step logged";
  EXPECT_NE(said.find("stopping after this step and saving a checkpoint"), std::string::npos) << said;
  EXPECT_NE(said.find(fmt::format("stopped by SIGINT (Ctrl-C) after step {}/1000000", n)), std::string::npos) << said;
  EXPECT_NE(said.find("--resume"), std::string::npos) << said;
  const json before = saved_options(out);

  // `--resume` alone continues it: the saved schedule (not the default lr and warmup), seed, data.
  pid = spawn({FATHOM_BINARY, "train", "--out", out, "--resume", "--threads", "1"}, log);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for_step(pid, out, n + 2, &status)) << status << ":\n" << read_text(log);
  kill(pid, SIGTERM);
  EXPECT_EQ(wait_for_exit(pid, "the run stopped with SIGTERM"), 128 + SIGTERM);
  EXPECT_EQ(saved_options(out), before);
  const LrSchedule sched{0.002, 0.002 * 0.1, 3, 1000000};
  std::ifstream in(out + "/train_log.jsonl");
  int64_t checked = 0;
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line);
    EXPECT_EQ(j["lr"].get<double>(), sched.at(j["step"].get<int64_t>() - 1)) << line;
    ++checked;
  }
  EXPECT_GE(checked, n + 2);

  // A setting typed differently is refused by name, before anything is touched.
  const auto state = file_bytes(out + "/training_state.safetensors");
  for (const std::vector<std::string>& extra : std::vector<std::vector<std::string>>{
           {"--lr", "0.001"}, {"--batch", "3"}, {"--seed", "5"}, {"--steps", "10"}}) {
    std::vector<std::string> args = {FATHOM_BINARY, "train", "--out", out, "--resume"};
    args.insert(args.end(), extra.begin(), extra.end());
    fs::remove(log);
    pid = spawn(args, log);
    EXPECT_EQ(wait_for_exit(pid, "--resume " + extra[0] + " " + extra[1]), 1) << extra[0];
    EXPECT_NE(read_text(log).find(extra[0] + " " + extra[1] + " differs"), std::string::npos) << read_text(log);
  }
  EXPECT_TRUE(file_bytes(out + "/training_state.safetensors") == state);
}

// A training_state.safetensors, model.safetensors and config.json that load completely.
void expect_readable_checkpoint(const std::string& dir, int64_t numel) {
  if (!fs::exists(dir + "/training_state.safetensors")) return;  // killed before the first save
  io::SafetensorsFile st(dir + "/training_state.safetensors");
  for (const char* t : {"params", "adam_m", "adam_v"}) {
    const io::TensorView* v = st.find(t);
    ASSERT_TRUE(v) << t;
    EXPECT_EQ(v->numel(), numel) << t;
  }
  EXPECT_GE(std::stoll(st.metadata().at("step")), 1);
  io::Checkpoint ck(dir);
  EXPECT_TRUE(ck.find("model.embed_tokens.weight"));
  EXPECT_NO_THROW(io::read_json_file(dir + "/config.json"));
}

// How many "step N/TOTAL" progress lines a run has printed to its output file so far.
int64_t printed_steps(const std::string& output) {
  std::ifstream in(output);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);)
    n += line.rfind("step ", 0) == 0 && line.find('/') != std::string::npos;
  return n;
}

TEST(TrainCli, KilledTwentyTimesThenResumedEndsBitIdentical) {
  const TinyRun s = tiny_setup("cli-kill");
  const std::string ref = s.root + "/uninterrupted", out = s.root + "/killed";
  const std::vector<std::string> run = {"--steps", "60", "--eval-every", "7", "--save-every", "1", "--log-every", "1"};
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = spawn(train_args(s, ref, run), s.root + "/uninterrupted.txt");
  ASSERT_EQ(wait_for(pid), 0) << read_text(s.root + "/uninterrupted.txt");
  // A step with its checkpoint takes this long here (mostly the fsyncs): kills land within ~1.5 of them.
  const auto step_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0) / 60;
  const int64_t numel = io::SafetensorsFile(ref + "/training_state.safetensors").find("params")->numel();

  // Each try starts the run (or resumes it, once it has a checkpoint), waits until it has printed
  // 0, 1 or 2 steps and then a random fraction of 1.5 steps more, and kills it: during start-up, the
  // log's rewrite, a step, a validation or (most often: it takes the longest) a checkpoint.
  std::mt19937 rng(2024);
  int kills = 0;
  for (int i = 0; i < 60 && kills < 20; ++i) {
    const bool resume = fs::exists(out + "/training_state.safetensors");
    const std::string output = fmt::format("{}/try{}.txt", s.root, i);
    pid = spawn(resume ? std::vector<std::string>{FATHOM_BINARY, "train", "--out", out, "--resume"}
                       : train_args(s, out, run),
                output);
    ASSERT_GT(pid, 0);
    const int64_t wait_steps = int64_t(rng() % 3);
    int status = -1;
    bool running = true;
    while (running && printed_steps(output) < wait_steps) {
      if (waitpid(pid, &status, WNOHANG) == pid) running = false;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ASSERT_TRUE(running) << "the run ended before it was killed (" << status << "):\n" << read_text(output);
    std::this_thread::sleep_for(std::chrono::microseconds(int64_t(rng() % 1000) * step_us.count() * 3 / 2000));
    kill(pid, SIGKILL);
    status = wait_for(pid);
    ASSERT_EQ(status, 128 + SIGKILL) << "the run ended before it was killed:\n" << read_text(output);
    ++kills;
    expect_readable_checkpoint(out, numel);
    if (HasFailure()) return;
  }
  EXPECT_EQ(kills, 20);
  const int64_t reached = saved_step(out);
  pid = spawn({FATHOM_BINARY, "train", "--out", out, "--resume"}, s.root + "/final.txt");
  ASSERT_EQ(wait_for(pid), 0) << read_text(s.root + "/final.txt");
  std::printf("20 kills reached step %lld of 60 before the final resume\n", static_cast<long long>(reached));
  EXPECT_EQ(saved_step(out), 60);
  expect_same_final_state(ref, out);
  EXPECT_FALSE(fs::exists(out + "/.checkpoint.tmp"));
}

}  // namespace
}  // namespace fathom::train
