// A fuzz target without libFuzzer: runs its LLVMFuzzerTestOneInput over files, as a corpus replay.
//   fuzz_jinja_replay FILE_OR_FOLDER...      (a folder: every regular file in it, in name order)
// The main build links each target against the parser sources alone (cmake/parser_sources.cmake),
// so CI notices when a parser starts to need more of the library, and `ctest -R fuzz_replay` runs
// the committed seeds through them (under ASan + UBSan in `make test-sanitize`). A finding shows as
// an abort, a sanitizer report or an exception escaping main, as it would under libFuzzer.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::filesystem::path> inputs_of(const std::filesystem::path& arg) {
  if (!std::filesystem::is_directory(arg)) return {arg};
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(arg))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
    return 2;
  }
  size_t n = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::filesystem::exists(argv[i])) {
      std::fprintf(stderr, "%s: no such file or folder\n", argv[i]);
      return 2;
    }
    for (const auto& path : inputs_of(argv[i])) {
      std::ifstream in(path, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!in.good() && !in.eof()) {
        std::fprintf(stderr, "%s: cannot read\n", path.c_str());
        return 2;
      }
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++n;
    }
  }
  std::filesystem::remove_all(fathom::fuzz::scratch_dir());
  std::printf("%zu inputs ran\n", n);
  return n > 0 ? 0 : 1;  // an empty corpus is a broken test, not a pass
}
