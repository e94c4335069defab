// Self-registering subcommands: each src/cli/cmd_*.cpp defines a static Command whose setup
// function adds a CLI11 subcommand and whose run function executes it. main.cpp wires them up.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace fathom::cli {

struct Command {
  // setup: add options to `sub` (already named and described); returns the function run when
  // the subcommand is chosen, which returns the process exit code.
  using Setup = std::function<std::function<int()>(CLI::App& sub)>;
  Command(std::string name, std::string description, Setup setup);
};

struct CommandEntry {
  std::string name, description;
  Command::Setup setup;
};
std::vector<CommandEntry>& command_registry();

}  // namespace fathom::cli
