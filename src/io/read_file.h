// Whole-file reads, with the path in the error.
#pragma once
#include <filesystem>
#include <string>

namespace fathom::io {

// The bytes of the file at p; fails with "cannot open P" if it cannot be read.
std::string read_file(const std::filesystem::path& p);

}  // namespace fathom::io
