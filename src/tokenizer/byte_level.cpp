// The GPT-2 byte <-> character table (see byte_level.h), built once.
#include "tokenizer/byte_level.h"

#include "tokenizer/unicode.h"

namespace fathom::tok {
namespace {

struct Tables {
  ByteLevelMap map;
  int inverse[324];  // every mapped character is below U+0144
  Tables() {
    for (int& x : inverse) x = -1;
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      char32_t c = printable ? b : next++;
      map.byte_to_char[b] = c;
      append_utf8(map.byte_to_utf8[b], c);
      inverse[c] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

int ByteLevelMap::char_to_byte(char32_t c) const { return c < 324 ? tables().inverse[c] : -1; }

const ByteLevelMap& byte_level_map() { return tables().map; }

}  // namespace fathom::tok
