// GPT-2's reversible byte <-> character map used by ByteLevel pre-tokenizers and decoders: printable
// bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves, the other 68 bytes take code points
// from U+0100 on, in byte order. So ' ' becomes 'Ġ' (U+0120) and '\n' becomes 'Ċ' (U+010A).
#pragma once
#include <array>
#include <string>

namespace fathom::tok {

struct ByteLevelMap {
  std::array<char32_t, 256> byte_to_char;
  std::array<std::string, 256> byte_to_utf8;
  int char_to_byte(char32_t c) const;  // -1 for a character outside the map
};

const ByteLevelMap& byte_level_map();

}  // namespace fathom::tok
