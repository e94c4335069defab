// UTF-8 decoding with the WHATWG replacement rule, and Unicode normalization (UAX #15) over tables
// generated from Python's unicodedata (unicode_tables.inc, written by gen_unicode_tables.py).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/unicode.h"

#include <pcre2.h>

#include "tokenizer/regex.h"

#include <algorithm>
#include <mutex>
#include <vector>

namespace fathom::tok {
namespace {

struct CccEntry { char32_t cp; uint8_t ccc; };
struct DecompEntry { char32_t cp; uint16_t canon_off, canon_len, compat_off, compat_len; };
struct ComposeEntry { char32_t a, b, c; };
struct CaseEntry { char32_t cp; uint16_t off, len; };
#include "tokenizer/unicode_tables.inc"

// Hangul syllables decompose and compose arithmetically (Unicode 3.12), so the tables omit them.
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
              kSCount = kLCount * kNCount;

template <typename T, size_t N>
const T* find_cp(const T (&table)[N], char32_t cp) {
  auto it = std::lower_bound(std::begin(table), std::end(table), cp,
                             [](const T& e, char32_t c) { return e.cp < c; });
  return it != std::end(table) && it->cp == cp ? it : nullptr;
}

uint8_t ccc(char32_t cp) {
  if (cp < 0x300) return 0;
  auto* e = find_cp(kCcc, cp);
  return e ? e->ccc : 0;
}

void decompose(char32_t cp, bool compat, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    int s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  auto* e = cp < 0xA0 ? nullptr : find_cp(kDecomp, cp);
  if (!e) { out.push_back(cp); return; }
  uint16_t off = compat ? e->compat_off : e->canon_off, len = compat ? e->compat_len : e->canon_len;
  out.insert(out.end(), kData + off, kData + off + len);
}

// Returns the primary composite of (a, b), or 0 when there is none.
char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  auto it = std::lower_bound(std::begin(kCompose), std::end(kCompose), std::pair{a, b},
                             [](const ComposeEntry& e, std::pair<char32_t, char32_t> k) {
                               return std::pair{e.a, e.b} < k;
                             });
  return it != std::end(kCompose) && it->a == a && it->b == b ? it->c : 0;
}

// Canonical ordering: stable-sort each run of non-starters by combining class.
void reorder(std::vector<char32_t>& cps) {
  for (size_t i = 0; i < cps.size();) {
    if (!ccc(cps[i])) { ++i; continue; }
    size_t j = i;
    while (j < cps.size() && ccc(cps[j])) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [](char32_t x, char32_t y) { return ccc(x) < ccc(y); });
    i = j;
  }
}

void compose(std::vector<char32_t>& cps) {
  if (cps.empty()) return;
  size_t starter = 0, out = 1;
  int last_ccc = ccc(cps[0]) ? 256 : 0;  // a leading non-starter can never be composed onto
  if (last_ccc) starter = SIZE_MAX;
  for (size_t i = 1; i < cps.size(); ++i) {
    char32_t c = cps[i];
    int k = ccc(c);
    if (starter != SIZE_MAX && (last_ccc < k || (last_ccc == 0 && out == starter + 1))) {
      if (char32_t p = compose_pair(cps[starter], c)) { cps[starter] = p; continue; }
    }
    if (k == 0) { starter = out; last_ccc = 0; } else { last_ccc = k; }
    cps[out++] = c;
  }
  cps.resize(out);
}

// Single-character Unicode property tests through PCRE2, which carries the Unicode database.
class CharClass {
 public:
  explicit CharClass(const char* pattern) {
    int err; PCRE2_SIZE off;
    std::string p = translate_pattern(pattern);  // with the newer-Unicode category additions
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.c_str()), PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off, nullptr);
    data_ = pcre2_match_data_create(1, nullptr);
  }
  bool test(char32_t c) {
    std::string s;
    append_utf8(s, c);
    std::lock_guard lock(mu_);
    return code_ && pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0,
                                PCRE2_NO_UTF_CHECK, data_, nullptr) >= 0;
  }
 private:
  pcre2_code* code_;
  pcre2_match_data* data_;
  std::mutex mu_;
};

}  // namespace

int32_t next_code_point(std::string_view s, size_t& i) {
  auto b = [&](size_t k) -> unsigned { return static_cast<unsigned char>(s[k]); };
  unsigned c = b(i);
  if (c < 0x80) { ++i; return c; }
  int need;
  unsigned lo = 0x80, hi = 0xBF;
  int32_t cp;
  if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) {
    need = 2; cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // excludes UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3; cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else { ++i; return -1; }
  size_t j = i + 1;
  for (int k = 0; k < need; ++k, ++j) {
    if (j >= s.size() || b(j) < lo || b(j) > hi) { i = j; return -1; }
    cp = (cp << 6) | (b(j) & 0x3F);
    lo = 0x80; hi = 0xBF;
  }
  i = j;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) { out += static_cast<char>(cp); return; }
  if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  }
  out += static_cast<char>(0x80 | (cp & 0x3F));
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) { ++i; continue; }
    if (next_code_point(s, i) < 0) return false;
  }
  return true;
}

std::string to_valid_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    int32_t cp = next_code_point(s, i);
    if (cp < 0) out += "\xEF\xBF\xBD";
    else out.append(s.data() + start, i - start);
  }
  return out;
}

size_t complete_utf8_prefix(std::string_view s) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (want <= back) return n;
    // Incomplete only if the bytes present so far are a valid start of a sequence.
    size_t i = n - back;
    std::string probe(s.substr(i));
    probe.append(want - back, '\x80');
    if (c == 0xE0 && back == 1) probe[1] = '\xA0';
    if (c == 0xF0 && back == 1) probe[1] = '\x90';
    size_t j = 0;
    return next_code_point(probe, j) >= 0 ? i : n;
  }
  return n;
}

std::string normalize(std::string_view s, NormalForm form) {
  bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return (c & 0x80) == 0; });
  if (ascii) return std::string(s);
  bool compat = form == NormalForm::NFKC || form == NormalForm::NFKD;
  std::vector<char32_t> cps;
  cps.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    int32_t cp = next_code_point(s, i);
    decompose(cp < 0 ? 0xFFFD : cp, compat, cps);
  }
  reorder(cps);
  if (form == NormalForm::NFC || form == NormalForm::NFKC) compose(cps);
  std::string out;
  out.reserve(s.size());
  for (char32_t c : cps) append_utf8(out, c);
  return out;
}

namespace {
template <size_t N>
std::string map_case(std::string_view s, const CaseEntry (&table)[N], char a, char z, int delta) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char b = s[i];
    if (b < 0x80) { out += static_cast<char>(b >= a && b <= z ? b + delta : b); ++i; continue; }
    int32_t cp = next_code_point(s, i);
    if (cp < 0) { out += "\xEF\xBF\xBD"; continue; }
    if (auto* e = find_cp(table, cp)) {
      for (int k = 0; k < e->len; ++k) append_utf8(out, kData[e->off + k]);
    } else {
      append_utf8(out, cp);
    }
  }
  return out;
}
}  // namespace

std::string to_lower(std::string_view s) { return map_case(s, kLower, 'A', 'Z', 32); }
std::string to_upper(std::string_view s) { return map_case(s, kUpper, 'a', 'z', -32); }

bool is_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool is_alphanumeric(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
  static CharClass cls("[\\p{Alphabetic}\\p{L}\\p{N}]");
  return cls.test(c);
}

bool is_numeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  static CharClass cls("\\p{N}");
  return cls.test(c);
}

}  // namespace fathom::tok
