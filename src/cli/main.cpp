// fathom: the command-line front end. Subcommands live in cmd_*.cpp and register themselves.
#include <algorithm>
#include <cstdio>
#include <map>

#include "cli/command.h"
#include "core/error.h"
#include "dist/comm.h"

namespace fathom::cli {

std::vector<CommandEntry>& command_registry() {
  static std::vector<CommandEntry> registry;
  return registry;
}

Command::Command(std::string name, std::string description, Setup setup) {
  command_registry().push_back({std::move(name), std::move(description), std::move(setup)});
}

}  // namespace fathom::cli

int main(int argc, char** argv) {
  using namespace fathom::cli;
  CLI::App app{"fathom: run and train DeepSeek-V3-architecture models on CPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fathom 0.1.0");
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
      if (sub->parsed()) rc = run();
  } catch (const std::exception& e) {
    return failed(e.what());
  }
  fathom::dist::finalize();
  return rc;
}
