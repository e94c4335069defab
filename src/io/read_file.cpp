#include "io/read_file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace fathom::io {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) fail("cannot open {}", p.string());
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail("cannot read {}", p.string());
  return ss.str();
}

}  // namespace fathom::io
