#include "io/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/json.h"

namespace fathom::io {

void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  std::string dims;
  int64_t n = 1;
  for (int64_t d : shape) {
    dims += std::to_string(d) + ",";
    n *= d;
  }
  if (shape.size() > 1) dims.pop_back();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header.push_back(' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  if (!out) fail("{}: cannot create", path);
  const char magic[] = "\x93NUMPY\x01\x00";
  out.write(magic, 8);
  uint16_t len = uint16_t(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out << header;
  out.write(reinterpret_cast<const char*>(data), std::streamsize(n * 4));
  if (!out) fail("{}: write failed", path);
}

NpyArray read_npy_f32(const std::string& path) {
  const std::string s = read_text_file(path);  // the one whole-file reader (bytes, any content)
  if (s.size() < 10 || std::memcmp(s.data(), "\x93NUMPY", 6) != 0) fail("{}: not a .npy file", path);
  size_t hlen, hstart;
  if (s[6] == 1) {
    hlen = uint8_t(s[8]) | (size_t(uint8_t(s[9])) << 8);
    hstart = 10;
  } else {
    hlen = uint8_t(s[8]) | (size_t(uint8_t(s[9])) << 8) | (size_t(uint8_t(s[10])) << 16) | (size_t(uint8_t(s[11])) << 24);
    hstart = 12;
  }
  if (hstart + hlen > s.size()) fail("{}: truncated header", path);
  const std::string h = s.substr(hstart, hlen);
  bool f8 = h.find("'<f8'") != std::string::npos;
  if (!f8 && h.find("'<f4'") == std::string::npos) fail("{}: only <f4 and <f8 arrays are supported", path);
  if (h.find("'fortran_order': True") != std::string::npos) fail("{}: fortran order not supported", path);
  NpyArray a;
  size_t p = h.find('(');
  size_t q = h.find(')', p);
  std::string dims = h.substr(p + 1, q - p - 1);
  std::stringstream ds(dims);
  std::string tok;
  int64_t n = 1;
  while (std::getline(ds, tok, ','))
    if (tok.find_first_not_of(' ') != std::string::npos) {
      a.shape.push_back(std::stoll(tok));
      n *= a.shape.back();
    }
  const size_t esz = f8 ? 8 : 4;
  if (hstart + hlen + size_t(n) * esz > s.size()) fail("{}: truncated data", path);
  a.data.resize(n);
  const char* d = s.data() + hstart + hlen;
  for (int64_t i = 0; i < n; ++i) {
    if (f8) {
      double v;
      std::memcpy(&v, d + i * 8, 8);
      a.data[i] = float(v);
    } else {
      std::memcpy(&a.data[i], d + i * 4, 4);
    }
  }
  return a;
}

}  // namespace fathom::io
