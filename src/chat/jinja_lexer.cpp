// Template text -> tokens. First the source is preprocessed like transformers' Jinja environment
// (drop one trailing newline, lstrip_blocks, trim_blocks, remove {% generation %} tags), keeping
// for every byte its offset in the original so errors point at what the user wrote. Then the
// token scan follows @huggingface/jinja's lexer, including its whitespace control ({%- -%}).
#include <cstring>
#include <cctype>

#include "chat/jinja.h"
#include "core/error.h"
#include "tokenizer/unicode.h"

namespace fathom::chat {
namespace {

struct Src {
  std::string text;
  std::vector<size_t> origin;  // origin[i]: offset in the original of text[i]; one past the end too
  void push(char c, size_t o) { text += c; origin.push_back(o); }
};

bool is_line_start(const std::string& s, size_t i) {
  if (i == 0) return true;
  unsigned char p = s[i - 1];
  if (p == '\n' || p == '\r') return true;
  // U+2028 / U+2029 (E2 80 A8 / A9) also start a line for a JavaScript multiline ^.
  return i >= 3 && static_cast<unsigned char>(s[i - 3]) == 0xE2 &&
         static_cast<unsigned char>(s[i - 2]) == 0x80 && (p == 0xA8 || p == 0xA9);
}

bool space_at(std::string_view s, size_t i, size_t& len) {
  size_t j = i;
  int32_t c = tok::next_code_point(s, j);
  len = j - i;
  return c >= 0 && is_js_space(c);
}

Src preprocess(std::string_view tmpl) {
  Src cur;
  for (size_t i = 0; i < tmpl.size(); ++i) cur.push(tmpl[i], i);
  if (!cur.text.empty() && cur.text.back() == '\n') { cur.text.pop_back(); cur.origin.pop_back(); }

  // lstrip_blocks: spaces and tabs from the start of a line up to a block or comment tag.
  Src next;
  for (size_t i = 0; i < cur.text.size();) {
    if (is_line_start(cur.text, i)) {
      size_t j = i;
      while (j < cur.text.size() && (cur.text[j] == ' ' || cur.text[j] == '\t')) ++j;
      if (j + 1 < cur.text.size() && cur.text[j] == '{' &&
          (cur.text[j + 1] == '#' || cur.text[j + 1] == '%' || cur.text[j + 1] == '-')) {
        i = j;
      }
    }
    // Copy up to the next line start.
    do {
      next.push(cur.text[i], cur.origin[i]);
      ++i;
    } while (i < cur.text.size() && !is_line_start(cur.text, i));
  }
  cur = std::move(next);

  // trim_blocks: the newline right after a block or comment tag.
  next = {};
  for (size_t i = 0; i < cur.text.size(); ++i) {
    next.push(cur.text[i], cur.origin[i]);
    if (i >= 1 && cur.text[i] == '}' && i + 1 < cur.text.size() && cur.text[i + 1] == '\n' &&
        (cur.text[i - 1] == '#' || cur.text[i - 1] == '%' || cur.text[i - 1] == '-'))
      ++i;
  }
  cur = std::move(next);

  // {% generation %} / {% endgeneration %} markers only matter for training masks: drop them,
  // with the whitespace around them when the tag asks for it.
  next = {};
  const std::string& t = cur.text;
  for (size_t i = 0; i < t.size();) {
    if (t.compare(i, 2, "{%") == 0) {
      size_t j = i + 2, len;
      bool lstrip = j < t.size() && t[j] == '-';
      if (lstrip) ++j;
      while (j < t.size() && space_at(t, j, len)) j += len;
      if (t.compare(j, 3, "end") == 0) j += 3;
      if (t.compare(j, 10, "generation") == 0) {
        j += 10;
        while (j < t.size() && space_at(t, j, len)) j += len;
        bool rstrip = j < t.size() && t[j] == '-';
        if (rstrip) ++j;
        if (t.compare(j, 2, "%}") == 0) {
          j += 2;
          if (lstrip)
            while (!next.text.empty() && is_js_space(static_cast<unsigned char>(next.text.back())))
              next.text.pop_back(), next.origin.pop_back();
          if (rstrip)
            while (j < t.size() && space_at(t, j, len)) j += len;
          i = j;
          continue;
        }
      }
    }
    next.push(t[i], cur.origin[i]);
    ++i;
  }
  next.origin.push_back(tmpl.size());
  return next;
}

// The fixed tokens, longest first where one is a prefix of another.
const std::pair<const char*, TokenType> kFixed[] = {
    {"{%", TokenType::OpenStatement}, {"%}", TokenType::CloseStatement},
    {"{{", TokenType::OpenExpression}, {"}}", TokenType::CloseExpression},
    {"(", TokenType::OpenParen}, {")", TokenType::CloseParen}, {"{", TokenType::OpenCurly},
    {"}", TokenType::CloseCurly}, {"[", TokenType::OpenSquare}, {"]", TokenType::CloseSquare},
    {",", TokenType::Comma}, {".", TokenType::Dot}, {":", TokenType::Colon}, {"|", TokenType::Pipe},
    {"<=", TokenType::Comparison}, {">=", TokenType::Comparison}, {"==", TokenType::Comparison},
    {"!=", TokenType::Comparison}, {"<", TokenType::Comparison}, {">", TokenType::Comparison},
    {"+", TokenType::Additive}, {"-", TokenType::Additive}, {"~", TokenType::Additive},
    {"**", TokenType::Power}, {"*", TokenType::Multiplicative}, {"//", TokenType::Multiplicative},
    {"/", TokenType::Multiplicative}, {"%", TokenType::Multiplicative}, {"=", TokenType::Equals},
};

bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string line_col(std::string_view source, size_t pos) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < source.size(); ++i) {
    if (source[i] == '\n') { ++line; col = 1; }
    else if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) ++col;
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

std::vector<Token> tokenize(std::string_view source) {
  Src src = preprocess(source);
  const std::string& s = src.text;
  std::vector<Token> tokens;
  size_t cur = 0;
  int curly_depth = 0;
  auto error = [&](size_t at, const std::string& msg) -> void {
    fail("chat template {}: {}", line_col(source, src.origin[std::min(at, s.size())]), msg);
  };
  auto space = [&](size_t i, size_t& len) { return i < s.size() && space_at(s, i, len); };
  auto skip_space = [&] {
    size_t len;
    while (space(cur, len)) cur += len;
  };
  auto push = [&](TokenType t, std::string v, size_t at) { tokens.push_back({t, std::move(v), src.origin[at]}); };
  auto last_type = [&]() -> int { return tokens.empty() ? -1 : static_cast<int>(tokens.back().type); };
  auto strip_trailing = [&] {
    if (!tokens.empty() && tokens.back().type == TokenType::Text) {
      tokens.back().value = js_trim(tokens.back().value, false, true);
      if (tokens.back().value.empty()) tokens.pop_back();
    }
  };

  while (cur < s.size()) {
    int lt = last_type();
    if (lt == -1 || lt == static_cast<int>(TokenType::CloseStatement) ||
        lt == static_cast<int>(TokenType::CloseExpression) || lt == static_cast<int>(TokenType::Comment)) {
      size_t start = cur;
      while (cur < s.size() &&
             !(s[cur] == '{' && cur + 1 < s.size() && (s[cur + 1] == '%' || s[cur + 1] == '{' || s[cur + 1] == '#')))
        ++cur;
      if (cur > start) { push(TokenType::Text, s.substr(start, cur - start), start); continue; }
    }
    if (s.compare(cur, 2, "{#") == 0) {
      size_t start = cur;
      cur += 2;
      bool strip_before = cur < s.size() && s[cur] == '-';
      if (strip_before) ++cur;
      size_t end = s.find("#}", cur);
      if (end == std::string::npos) error(start, "Missing end of comment tag");
      std::string comment = s.substr(cur, end - cur);
      bool strip_after = !comment.empty() && comment.back() == '-';
      if (strip_after) comment.pop_back();
      if (strip_before) strip_trailing();
      push(TokenType::Comment, comment, start);
      cur = end + 2;
      if (strip_after) skip_space();
      continue;
    }
    if (s.compare(cur, 3, "{%-") == 0) {
      strip_trailing();
      push(TokenType::OpenStatement, "{%", cur);
      cur += 3;
      continue;
    }
    if (s.compare(cur, 3, "{{-") == 0) {
      strip_trailing();
      push(TokenType::OpenExpression, "{{", cur);
      curly_depth = 0;
      cur += 3;
      continue;
    }
    skip_space();
    if (cur >= s.size()) break;
    if (s.compare(cur, 3, "-%}") == 0) {
      push(TokenType::CloseStatement, "%}", cur);
      cur += 3;
      skip_space();
      continue;
    }
    if (s.compare(cur, 3, "-}}") == 0) {
      push(TokenType::CloseExpression, "}}", cur);
      cur += 3;
      skip_space();
      continue;
    }
    char c = s[cur];
    if (c == '-' || c == '+') {
      lt = last_type();
      if (lt == -1 || lt == static_cast<int>(TokenType::Text)) error(cur, std::string("Unexpected character: ") + c);
      auto t = static_cast<TokenType>(lt);
      if (t != TokenType::Ident && t != TokenType::Number && t != TokenType::String &&
          t != TokenType::CloseParen && t != TokenType::CloseSquare) {
        size_t start = cur++;
        std::string num;
        while (cur < s.size() && is_digit(s[cur])) num += s[cur++];
        if (!num.empty() && cur + 1 < s.size() && s[cur] == '.' && is_digit(s[cur + 1])) {
          num += s[cur++];
          while (cur < s.size() && is_digit(s[cur])) num += s[cur++];
        }
        push(num.empty() ? TokenType::Unary : TokenType::Number, std::string(1, c) + num, start);
        continue;
      }
    }
    bool matched = false;
    for (auto& [seq, type] : kFixed) {
      size_t n = std::strlen(seq);
      if (type == TokenType::CloseExpression && curly_depth > 0) continue;
      if (s.compare(cur, n, seq) == 0) {
        push(type, seq, cur);
        if (type == TokenType::OpenExpression) curly_depth = 0;
        else if (type == TokenType::OpenCurly) ++curly_depth;
        else if (type == TokenType::CloseCurly) --curly_depth;
        cur += n;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (c == '\'' || c == '"') {
      size_t start = cur++;
      std::string str;
      while (true) {
        if (cur >= s.size()) error(start, "Unexpected end of input");
        if (s[cur] == c) break;
        if (s[cur] == '\\') {
          if (++cur >= s.size()) error(start, "Unexpected end of input");
          char e = s[cur++];
          if (e == 'x' || e == 'u') {
            size_t n = e == 'x' ? 2 : 4;
            std::string hex = s.substr(cur, n);
            if (hex.size() != n || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
              error(cur, "Invalid hexadecimal escape sequence: \\" + std::string(1, e) + hex);
            tok::append_utf8(str, static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
            cur += n;
            continue;
          }
          switch (e) {
            case 'n': str += '\n'; break;
            case 't': str += '\t'; break;
            case 'r': str += '\r'; break;
            case 'b': str += '\b'; break;
            case 'f': str += '\f'; break;
            case 'v': str += '\v'; break;
            case '\'': case '"': case '\\': str += e; break;
            default: error(cur - 2, std::string("Unexpected escaped character: ") + e);
          }
          continue;
        }
        str += s[cur++];
      }
      ++cur;  // closing quote
      push(TokenType::String, str, start);
      continue;
    }
    if (is_digit(c)) {
      size_t start = cur;
      std::string num;
      while (cur < s.size() && is_digit(s[cur])) num += s[cur++];
      bool after_dot = !tokens.empty() && tokens.back().type == TokenType::Dot;
      if (!after_dot && cur + 1 < s.size() && s[cur] == '.' && is_digit(s[cur + 1])) {
        num += s[cur++];
        while (cur < s.size() && is_digit(s[cur])) num += s[cur++];
      }
      push(TokenType::Number, num, start);
      continue;
    }
    if (is_word(c)) {
      size_t start = cur;
      while (cur < s.size() && is_word(s[cur])) ++cur;
      push(TokenType::Ident, s.substr(start, cur - start), start);
      continue;
    }
    size_t j = cur;
    tok::next_code_point(s, j);
    error(cur, "Unexpected character: " + s.substr(cur, j - cur));
  }
  return tokens;
}

}  // namespace fathom::chat
