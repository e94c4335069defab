// Where a test finds the fathom binary, its scratch space and the source tree. They are found at run
// time from the test executable's own location (the binary and test-tmp sit beside it in the build
// tree), not compiled in, so the same objects serve any checkout and compiler caches can share them.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace fathom::test {

inline std::filesystem::path build_dir() {
  static const std::filesystem::path dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  return dir;
}

// The repository root: $FATHOM_SOURCE_DIR, else the nearest ancestor of the build tree holding src/.
inline std::filesystem::path source_dir() {
  if (const char* v = std::getenv("FATHOM_SOURCE_DIR"); v && *v) return v;
  for (std::filesystem::path p = build_dir(); !p.empty() && p != p.root_path(); p = p.parent_path())
    if (std::filesystem::exists(p / "src" / "model" / "config.h")) return p;
  std::fprintf(stderr, "test_paths: no source tree above %s; set FATHOM_SOURCE_DIR\n", build_dir().c_str());
  std::abort();
}

}  // namespace fathom::test

#define FATHOM_BINARY ((::fathom::test::build_dir() / "fathom").string())
#define FATHOM_TEST_TMP ((::fathom::test::build_dir() / "test-tmp").string())
#define FATHOM_SOURCE_DIR (::fathom::test::source_dir().string())
