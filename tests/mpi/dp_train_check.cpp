// Data-parallel training under `mpirun -np 2` against one process with the same global batch, on
// the tiny config of train_util.h (MTP, noaux_tc routing with groups, a shared expert, a dense
// layer): every step's loss, MTP loss, balance loss, gradient norm and validation loss within
// relative 1e-5, every step's expert load (the allreduced counts the bias update reads) exactly,
// and the final parameters and AdamW moments within relative L2 1e-5. Then --resume across a
// change of rank count (2 -> 1 and 1 -> 2) ends where the uninterrupted run does, and a rank killed
// mid-run ends the whole run with an error instead of leaving the other waiting forever.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "mpi_util.h"
#include "test_util.h"
#include "train_util.h"

namespace fathom::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct RunDirs {
  std::string root, config, data;
};

RunDirs make_setup(const std::string& name) {
  RunDirs s;
  s.root = ::fathom::test::scratch_dir("mpi/" + name);
  s.data = s.root + "/data";
  fs::create_directories(s.data);
  test::write_data(s.data, test::tiny_config().vocab_size, 4000, 600);
  s.config = s.root + "/model.json";
  std::ofstream(s.config) << test::tiny_config().to_json().dump(2);
  return s;
}

// A 4-step run, global batch 4, checkpoints every 2 steps, validation every 2.
std::string train_args(const RunDirs& s, const std::string& out) {
  return " train --config " + s.config + " --data " + s.data + " --out " + out +
         " --steps 4 --batch 4 --seq 8 --warmup 1 --lr 3e-3 --threads 1 --eval-every 2 --eval-batches 1"
         " --save-every 2 --bias-update 1e-2";
}

void train(const RunDirs& s, int ranks, const std::string& out, const std::string& extra = "") {
  const std::string log = out + ".log";
  const int rc = ::fathom::test::run_logged(::fathom::test::fathom_cmd(ranks) + train_args(s, out) + extra, log);
  ASSERT_EQ(rc, 0) << ::fathom::test::read_all(log);
}

std::vector<json> read_log(const std::string& out) {
  std::vector<json> lines;
  std::ifstream f(out + "/train_log.jsonl");
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-12); }

void expect_same_log(const std::string& got_dir, const std::string& want_dir) {
  const auto got = read_log(got_dir), want = read_log(want_dir);
  ASSERT_EQ(got.size(), want.size());
  ASSERT_GT(want.size(), 4u);
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i]["step"], want[i]["step"]) << "line " << i;
    for (const char* k : {"loss", "mtp_loss", "balance_loss", "grad_norm", "lr", "val_loss", "val_mtp_loss"}) {
      if (!want[i].contains(k)) continue;
      ASSERT_TRUE(got[i].contains(k)) << k;
      EXPECT_LT(rel(got[i][k].get<double>(), want[i][k].get<double>()), 1e-5)
          << k << " at step " << want[i]["step"] << ": " << got[i][k] << " vs " << want[i][k];
    }
    if (want[i].contains("expert_load")) {
      EXPECT_EQ(got[i]["expert_load"], want[i]["expert_load"]) << "step " << want[i]["step"];
    }
  }
}

std::vector<float> tensor(const std::string& out, const char* name) {
  io::SafetensorsFile f(out + "/training_state.safetensors");
  const io::TensorView* t = f.find(name);
  EXPECT_NE(t, nullptr) << name;
  if (!t) return {};
  const auto* p = reinterpret_cast<const float*>(t->data);
  return std::vector<float>(p, p + t->numel());
}

void expect_same_state(const std::string& got, const std::string& want) {
  for (const char* name : {"params", "adam_m", "adam_v"}) {
    const auto a = tensor(got, name), b = tensor(want, name);
    ASSERT_EQ(a.size(), b.size()) << name;
    EXPECT_LT(::fathom::test::rel_l2(a, b), 1e-5) << name;
  }
}

TEST(MpiDataParallel, TwoRanksMatchOneProcess) {
  const RunDirs s = make_setup("dp_match");
  train(s, 0, s.root + "/one");
  train(s, 2, s.root + "/two");
  expect_same_log(s.root + "/two", s.root + "/one");
  expect_same_state(s.root + "/two", s.root + "/one");
}

TEST(MpiDataParallel, ResumesWithAnotherRankCount) {
  const RunDirs s = make_setup("dp_resume");
  train(s, 0, s.root + "/ref");
  for (const auto& [first, second] : {std::pair{2, 0}, std::pair{0, 2}}) {
    SCOPED_TRACE(fmt::format("{} ranks, then {}", first, second));
    const std::string out = fmt::format("{}/resumed_{}_{}", s.root, first, second);
    train(s, first, out, " --stop-after 2");
    ASSERT_EQ(read_log(out).back()["step"], 2);
    const std::string log = out + ".resume.log";
    ASSERT_EQ(::fathom::test::run_logged(::fathom::test::fathom_cmd(second) + " train --out " + out + " --resume --threads 1", log), 0)
        << ::fathom::test::read_all(log);
    expect_same_log(out, s.root + "/ref");
    expect_same_state(out, s.root + "/ref");
  }
}

// The pid of the child of `parent` whose environment names it OpenMPI rank `rank`, or -1.
pid_t find_rank(pid_t parent, int rank) {
  const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid != parent) continue;
    const std::string env = ::fathom::test::read_all((e.path() / "environ").string());
    for (size_t at = 0; at < env.size();) {
      const size_t end = env.find('\0', at);
      if (env.compare(at, (end == std::string::npos ? env.size() : end) - at, want) == 0) return std::stoi(name);
      if (end == std::string::npos) break;
      at = end + 1;
    }
  }
  return -1;
}

TEST(MpiDataParallel, KilledRankEndsTheRun) {
  const RunDirs s = make_setup("dp_kill");
  const std::string out = s.root + "/out", log = s.root + "/mpirun.log";
  ::fathom::test::set_mpi_env();
  const pid_t mpirun = fork();
  ASSERT_GE(mpirun, 0);
  if (mpirun == 0) {
    const std::string cmd = "exec " + ::fathom::test::fathom_cmd(2) +
                            " train --config " + s.config + " --data " + s.data + " --out " + out +
                            " --steps 1000000 --batch 2 --seq 8 --threads 1 --eval-every 0 > " + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  using clock = std::chrono::steady_clock;
  // Wait until the run is training (rank 0 has logged a step), then kill rank 1.
  const auto start = clock::now();
  pid_t victim = -1;
  while (clock::now() - start < std::chrono::seconds(15)) {
    if (victim < 0) victim = find_rank(mpirun, 1);
    if (victim > 0 && fs::exists(out + "/train_log.jsonl") && fs::file_size(out + "/train_log.jsonl") > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(victim, 0) << "rank 1 never appeared";
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  // The surviving rank was in (or about to enter) an allreduce with the dead one: the run must end.
  int status = 0;
  pid_t done = 0;
  const auto killed = clock::now();
  while ((done = waitpid(mpirun, &status, WNOHANG)) == 0 && clock::now() - killed < std::chrono::seconds(15))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (done == 0) {
    kill(mpirun, SIGKILL);
    waitpid(mpirun, &status, 0);
    FAIL() << "the run was still going 15 s after rank 1 was killed:\n" << ::fathom::test::read_all(log);
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  const std::string text = ::fathom::test::read_all(log);
  EXPECT_NE(text.find("rank 1"), std::string::npos) << text;
  EXPECT_NE(text.find("signal 9"), std::string::npos) << text;
  EXPECT_EQ(find_rank(mpirun, 0), -1) << "rank 0 outlived the run";
}

}  // namespace
}  // namespace fathom::train
