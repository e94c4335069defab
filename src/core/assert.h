// FATHOM_ASSERT: a kernel's preconditions (shapes, strides, non-null buffers), checked at its entry.
// A failed check is a bug in the caller, not bad input; it throws fathom::AssertionFailure (a
// fathom::Error, so a frontend that reports errors reports it too) naming the condition, the file
// and line, and an explanation. Checks sit at kernel entries, on the calling thread, before any
// work is handed to the pool, so nothing has been written when one fails.
//
// Always on, in every build type (as GGML_ASSERT): a check is a few compares per kernel call, next
// to nothing beside the call's work, and the kernels are compiled once into the library that both
// the binary and the tests link, so a check that the tests see is one that ships. Keep it out of
// per-element loops.
#pragma once
#include <fmt/format.h>

#include <string>

#include "core/error.h"

namespace fathom {

class AssertionFailure : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn, gnu::cold]] inline void assert_failed(const char* cond, const char* file, int line,
                                                  const std::string& why) {
  throw AssertionFailure(fmt::format("internal error: {}:{}: FATHOM_ASSERT({}) failed{}{}", file, line, cond,
                                     why.empty() ? "" : ": ", why));
}
}  // namespace detail

}  // namespace fathom

// FATHOM_ASSERT(cond) or FATHOM_ASSERT(cond, "format", args...): the message is formatted only on failure.
#define FATHOM_ASSERT(cond, ...)                                                                   \
  do {                                                                                            \
    if (!(cond)) [[unlikely]]                                                                     \
      ::fathom::detail::assert_failed(#cond, __FILE__, __LINE__, ::fmt::format("" __VA_ARGS__)); \
  } while (0)
