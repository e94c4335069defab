// UTF-8 and Unicode helpers the tokenizer needs: decoding with replacement of invalid bytes, the four
// normalization forms, lowercase, and the few character predicates Hugging Face's Rust code uses
// (char::is_whitespace, is_alphanumeric, is_numeric). Strings are UTF-8 in std::string throughout.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace fathom::tok {

// Decodes one code point at s[i] and advances i. Returns -1 (and advances past the maximal invalid
// subpart, the WHATWG / Python "replace" rule) when the bytes there are not valid UTF-8.
int32_t next_code_point(std::string_view s, size_t& i);

void append_utf8(std::string& out, char32_t cp);

bool is_valid_utf8(std::string_view s);

// Every invalid sequence replaced by U+FFFD exactly as JavaScript's TextDecoder, Node's
// Buffer.toString('utf8'), Python's bytes.decode(errors="replace") and Rust's from_utf8_lossy do.
std::string to_valid_utf8(std::string_view s);

// Length in bytes of the longest prefix of s that ends on a code-point boundary, treating an
// incomplete (but so far valid) trailing sequence as not yet complete. Used by streaming decode.
size_t complete_utf8_prefix(std::string_view s);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view s, NormalForm form);
std::string to_lower(std::string_view s);  // full Unicode mappings (no final-sigma rule)
std::string to_upper(std::string_view s);

// The Rust std predicates (Unicode White_Space, Alphabetic or N*, N*) used by added-token matching
// and the Digits pre-tokenizer.
bool is_whitespace(char32_t c);
bool is_alphanumeric(char32_t c);
bool is_numeric(char32_t c);

}  // namespace fathom::tok
