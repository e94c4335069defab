// fathom: the command-line front end. Subcommands live in cmd_*.cpp and register themselves.
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "cli/command.h"
#include "core/error.h"
#include "dist/comm.h"
#include "model/expert_parallel.h"

namespace fathom::cli {

std::vector<CommandEntry>& command_registry() {
  static std::vector<CommandEntry> registry;
  return registry;
}

Command::Command(std::string name, std::string description, Setup setup) {
  command_registry().push_back({std::move(name), std::move(description), std::move(setup)});
}

namespace {

// How a command runs under `mpirun -np N` (docs/DISTRIBUTED.md): train is data parallel (and with
// --expert-parallel also expert parallel), the inference commands expert parallel (also asked for
// with --expert-parallel, which on one rank runs the same dispatch path), everything else on one
// process only. Ranks other than 0 stay silent on
// stdout: rank 0 owns the command's output.
void start_distributed(const std::string& command, bool expert_parallel) {
  static const std::set<std::string> inference = {"run", "chat", "serve", "bench", "logits", "perplexity"};
  const bool several = fathom::dist::size() > 1;
  if (!inference.count(command) && command != "train") {
    if (expert_parallel)
      fathom::fail("--expert-parallel applies to train, run, chat, serve, bench, logits and perplexity");
    if (several) fathom::fail("fathom {} runs as one process: start it without mpirun", command);
  }
  // train: data parallel, plus expert parallel when asked (TrainOptions::expert_parallel reads it).
  if ((inference.count(command) && several) || expert_parallel) fathom::expert_parallel::enable();
  if (!fathom::dist::is_root() && !std::freopen("/dev/null", "w", stdout))
    fathom::fail("rank {}: could not silence stdout", fathom::dist::rank());
}

}  // namespace

}  // namespace fathom::cli

int main(int argc, char** argv) {
  using namespace fathom::cli;
  CLI::App app{"fathom: run and train DeepSeek-V3-architecture models on CPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fathom 0.1.0");
  bool expert_parallel = false;
  app.add_flag("--expert-parallel", expert_parallel,
               "spread each MoE layer's routed experts over the ranks of `mpirun -np N` (the default for "
               "inference under mpirun; for train, data plus expert parallel; docs/DISTRIBUTED.md)");
  app.fallthrough();  // --expert-parallel may follow the subcommand
  auto entries = command_registry();
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::map<CLI::App*, std::function<int()>> runners;
  for (auto& e : entries) {
    CLI::App* sub = app.add_subcommand(e.name, e.description);
    runners[sub] = e.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // Under mpirun every rank runs the same command (docs/DISTRIBUTED.md). An error on one rank ends
  // them all: the others may be waiting in a collective this rank will never join.
  auto failed = [](const char* what) {
    if (fathom::dist::size() > 1) {
      std::fprintf(stderr, "fathom: error on rank %d of %d: %s\n", fathom::dist::rank(), fathom::dist::size(), what);
      std::fflush(stderr);
      fathom::dist::abort_all(1);
    }
    std::fprintf(stderr, "fathom: error: %s\n", what);
    return 1;
  };
  int rc = 0;
  try {
    fathom::dist::init(&argc, &argv);
    for (auto& [sub, run] : runners)
      if (sub->parsed()) {
        start_distributed(sub->get_name(), expert_parallel);
        rc = run();
      }
    fathom::expert_parallel::finish();
  } catch (const std::exception& e) {
    return failed(e.what());
  }
  fathom::dist::finalize();
  return rc;
}
