// fathom's one error type. Every user-facing failure (bad file, bad config, bad request) throws
// fathom::Error with a message that names the file / tensor / field and what was expected.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace fathom {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] inline void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace fathom
