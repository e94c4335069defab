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

#include "train_runs.h"
#include "mpi_util.h"

namespace fathom::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

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
