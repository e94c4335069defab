#include "cli/option_checks.h"

#include <fmt/format.h>

#include <charconv>

namespace fathom::cli {

namespace {

// `text` as a whole number in [lo, hi]; else what is wrong, naming what the range means.
std::string check_range(const std::string& text, int64_t lo, int64_t hi, const char* meaning) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && p == end && (v < lo || v > hi)))
    return fmt::format("must be between {} and {} ({}), got {}", lo, hi, meaning, text);
  if (ec != std::errc() || p != end || text.empty()) return fmt::format("must be a whole number, got '{}'", text);
  return "";
}

}  // namespace

std::string check_threads(const std::string& text) { return check_range(text, 0, kMaxThreads, "0: all cores"); }
std::string check_port(const std::string& text) { return check_range(text, 0, kMaxPort, "0: any free port"); }

CLI::Option* add_threads_option(CLI::App& app, int& threads, const std::string& names, const std::string& help) {
  return app.add_option(names, threads, help)->check(CLI::Validator(check_threads, "0.." + std::to_string(kMaxThreads)));
}

CLI::Option* add_port_option(CLI::App& app, int& port, const std::string& help) {
  return app.add_option("--port", port, help)->check(CLI::Validator(check_port, "0.." + std::to_string(kMaxPort)));
}

}  // namespace fathom::cli
