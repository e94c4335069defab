// Options several commands share, checked in one place, so that a bad value is the same clear error
// from every command, at parse time: never an abort deep inside (asking the OS for 100000 threads
// ended in "terminate called") nor a silent substitute (port 70000 wrapped round to 4464).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace fathom::cli {

// Thread counts: 0 is all cores. More threads than any machine has cores would only contend.
inline constexpr int kMaxThreads = 1024;
// A TCP port; 0 lets the OS pick a free one.
inline constexpr int kMaxPort = 65535;

// What is wrong with a value given as `text`, or empty when it is fine.
std::string check_threads(const std::string& text);
std::string check_port(const std::string& text);

// `names` as CLI11 takes them ("-t,--threads"); the option is checked by the function above.
CLI::Option* add_threads_option(CLI::App& app, int& threads, const std::string& names, const std::string& help);
CLI::Option* add_port_option(CLI::App& app, int& port, const std::string& help);

}  // namespace fathom::cli
