// Thread counts and ports are checked in one place (src/cli/option_checks.h) for every command that
// takes them: an out-of-range value is a clear error at parse time, before anything is loaded, never
// an abort ("terminate called" for -t 100000) nor a silent substitute (port 70000 became 4464). And
// threads the system cannot start are an error too, not an abort.
#include "test_paths.h"
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Proc {
  int status;
  std::string err;
};

// `prefix` runs before the command in the same shell (e.g. a ulimit).
Proc run_fathom(const std::string& args, const std::string& prefix = "") {
  static int n = 0;
  const fs::path dir = fs::path(FATHOM_TEST_TMP) / "cli_options";
  fs::create_directories(dir);
  const fs::path err = dir / ("err-" + std::to_string(getpid()) + "-" + std::to_string(n++));
  const std::string cmd = "cd " + dir.string() + " && " + prefix + " env -u FATHOM_MODEL " + FATHOM_BINARY + " " + args +
                          " < /dev/null > /dev/null 2> " + err.string();
  const int rc = std::system(cmd.c_str());
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  fs::remove(err);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ss.str()};
}

// Every command that takes a thread count, with its other required arguments (none of which is
// read: the check comes first). %T is where the thread option goes.
std::vector<std::string> thread_commands() {
  const std::string file = FATHOM_SOURCE_DIR + "/README.md";
  return {"run no-model %T",
          "chat no-model %T",
          "bench no-model %T",
          "logits no-model --ids 1 --out x.npy --fast %T",
          "perplexity no-model -f " + file + " %T",
          "serve no-model %T",
          "prepare " + file + " --tokenizer no-tokenizer --out no-out %T",
          "train --data no-data --out no-out %T"};
}

std::string with(std::string cmd, const std::string& option) { return cmd.replace(cmd.find("%T"), 2, option); }

void expect_rejected(const std::string& args, const std::string& message) {
  const Proc r = run_fathom(args);
  EXPECT_NE(r.status, 0) << args;
  EXPECT_NE(r.err.find(message), std::string::npos) << args << "\nstderr: " << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << args << "\nstderr: " << r.err;
}

}  // namespace

TEST(CliOptions, ThreadCountsOutOfRangeAreRejectedByEveryCommand) {
  for (const auto& cmd : thread_commands()) {
    for (const char* bad : {"100000", "1025", "-1", "-100000", "99999999999999999999"})
      expect_rejected(with(cmd, std::string("--threads ") + bad),
                      std::string("--threads: must be between 0 and 1024 (0: all cores), got ") + bad);
    expect_rejected(with(cmd, "--threads four"), "--threads: must be a whole number, got 'four'");
  }
}

TEST(CliOptions, ThreadCountsInRangePassTheCheck) {
  // Accepted, the command goes on and fails later, on the missing model or data, not on --threads.
  for (const auto& cmd : thread_commands())
    for (const char* good : {"0", "1", "1024"}) {
      const Proc r = run_fathom(with(cmd, std::string("--threads ") + good));
      EXPECT_EQ(r.err.find("--threads"), std::string::npos) << with(cmd, good) << "\nstderr: " << r.err;
    }
}

TEST(CliOptions, PortsOutOfRangeAreRejected) {
  for (const char* bad : {"70000", "65536", "-1"})
    expect_rejected(std::string("serve no-model --port ") + bad,
                    std::string("--port: must be between 0 and 65535 (0: any free port), got ") + bad);
  expect_rejected("serve no-model --port http", "--port: must be a whole number, got 'http'");
  for (const char* good : {"0", "8080", "65535"}) {
    const Proc r = run_fathom(std::string("serve no-model --port ") + good);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("no-model: no such model directory"), std::string::npos) << good << ": " << r.err;
  }
}

TEST(CliOptions, ThreadsTheSystemCannotStartAreAnError) {
  // 1024 threads need 8 GB of stack address space; with 1.5 GB allowed, the pool cannot start them.
  const std::string model = FATHOM_SOURCE_DIR + "/models/default";
  const Proc r = run_fathom("run " + model + " -t 1024 -n 1 -p hi", "ulimit -v 1500000 &&");
  if (r.err.find("Sanitizer") != std::string::npos) GTEST_SKIP() << "a sanitizer build cannot run under ulimit -v";
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("fathom: error: cannot start 1024 threads"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
}
