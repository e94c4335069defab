#include "server/tool_calls.h"

#include <algorithm>
#include <initializer_list>

namespace fathom::server {

namespace {

struct Found {
  size_t pos = std::string::npos;
  std::string_view marker;
};

// The earliest occurrence of any of the markers in s.
Found find_first(std::string_view s, std::initializer_list<std::string_view> markers) {
  Found f;
  for (std::string_view m : markers) {
    const size_t p = s.find(m);
    if (p != std::string::npos && (f.pos == std::string::npos || p < f.pos)) f = {p, m};
  }
  return f;
}

// How much of s can be consumed now: all but the longest suffix that is a proper prefix of a marker.
size_t safe_length(std::string_view s, std::initializer_list<std::string_view> markers) {
  size_t keep = 0;
  for (std::string_view m : markers)
    for (size_t n = std::min(s.size(), m.size() - 1); n > keep; --n)
      if (s.substr(s.size() - n) == m.substr(0, n)) {
        keep = n;
        break;
      }
  return s.size() - keep;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && is_space(s[a])) ++a;
  while (b > a && is_space(s[b - 1])) --b;
  return std::string(s.substr(a, b - a));
}

// Length of the trailing run of whitespace and backticks: a possible closing fence "\n```".
size_t fence_tail(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && (is_space(s[s.size() - 1 - n]) || s[s.size() - 1 - n] == '`')) ++n;
  return n;
}

}  // namespace

ToolCallFormat tool_call_format(std::string_view chat_template) {
  const bool fenced = chat_template.find("```json") != std::string_view::npos;
  return !fenced && chat_template.find(kToolSep) != std::string_view::npos ? ToolCallFormat::V31 : ToolCallFormat::V3;
}

std::pair<std::string, std::string> tool_call_frame(ToolCallFormat format, std::string_view name) {
  std::string before(kToolCallsBegin), after;
  before += kToolCallBegin;
  if (format == ToolCallFormat::V3) {
    before += "function";
    before += kToolSep;
    before += name;
    before += "\n```json\n";
    after = "\n```";
  } else {
    before += name;
    before += kToolSep;
  }
  after += kToolCallEnd;
  after += kToolCallsEnd;
  return {before, after};
}

void ToolCallParser::emit(std::vector<ToolCallEvent>& out, ToolCallEvent::Kind kind, std::string text) {
  if (text.empty() && kind != ToolCallEvent::Kind::Begin) return;
  const int index = kind == ToolCallEvent::Kind::Content ? 0 : calls_ - 1;
  if (!out.empty() && out.back().kind == kind && kind != ToolCallEvent::Kind::Begin && out.back().index == index) {
    out.back().text += text;
    return;
  }
  out.push_back({kind, index, std::move(text)});
}

std::vector<ToolCallEvent> ToolCallParser::push(std::string_view text) {
  buf_ += text;
  std::vector<ToolCallEvent> out;
  step(out, false);
  return out;
}

std::vector<ToolCallEvent> ToolCallParser::flush() {
  std::vector<ToolCallEvent> out;
  step(out, true);
  if (state_ == State::Args) emit(out, ToolCallEvent::Kind::Arguments, held_.substr(0, held_.size() - fence_tail(held_)));
  held_.clear();
  buf_.clear();
  return out;
}

void ToolCallParser::step(std::vector<ToolCallEvent>& out, bool final) {
  using K = ToolCallEvent::Kind;
  for (;;) {
    switch (state_) {
      case State::Content:
      case State::AfterBlock: {
        if (state_ == State::AfterBlock) {
          emit(out, K::Content, std::move(buf_));
          buf_.clear();
          return;
        }
        const Found f = find_first(buf_, {kToolCallsBegin, kToolCallBegin});
        if (f.pos == std::string::npos) {
          const size_t n = final ? buf_.size() : safe_length(buf_, {kToolCallsBegin, kToolCallBegin});
          emit(out, K::Content, buf_.substr(0, n));
          buf_.erase(0, n);
          return;
        }
        emit(out, K::Content, buf_.substr(0, f.pos));
        buf_.erase(0, f.pos + f.marker.size());
        state_ = f.marker == kToolCallsBegin ? State::Block : State::Head;
        head_.clear();
        break;
      }
      case State::Block: {  // between calls: only whitespace is expected here
        const Found f = find_first(buf_, {kToolCallBegin, kToolCallsEnd});
        if (f.pos == std::string::npos) {
          buf_.erase(0, safe_length(buf_, {kToolCallBegin, kToolCallsEnd}));
          return;
        }
        buf_.erase(0, f.pos + f.marker.size());
        state_ = f.marker == kToolCallBegin ? State::Head : State::AfterBlock;
        head_.clear();
        break;
      }
      case State::Head: {  // "function" (V3) or the name (V3.1), up to the separator
        const Found f = find_first(buf_, {kToolSep});
        if (f.pos == std::string::npos) {
          const size_t n = safe_length(buf_, {kToolSep});
          head_ += buf_.substr(0, n);
          buf_.erase(0, n);
          return;
        }
        head_ += buf_.substr(0, f.pos);
        buf_.erase(0, f.pos + f.marker.size());
        const std::string head = trim(head_);
        ++calls_;
        held_.clear();
        if (head == "function") {
          v3_form_ = true;
          name_.clear();
          state_ = State::Name;
        } else {
          v3_form_ = false;
          emit(out, K::Begin, head);
          state_ = State::Args;
        }
        break;
      }
      case State::Name: {  // V3: the name runs to the end of its line
        const size_t nl = buf_.find('\n');
        const Found end = find_first(buf_, {kToolCallEnd});
        if (nl == std::string::npos && end.pos == std::string::npos) {
          const size_t n = safe_length(buf_, {kToolCallEnd});
          name_ += buf_.substr(0, n);
          buf_.erase(0, n);
          if (!final) return;
        }
        const size_t cut = std::min(nl, end.pos == std::string::npos ? buf_.size() : end.pos);
        name_ += buf_.substr(0, std::min(cut, buf_.size()));
        buf_.erase(0, cut == nl ? cut + 1 : cut);
        emit(out, K::Begin, trim(name_));
        state_ = State::Fence;
        if (final && buf_.empty()) return;
        break;
      }
      case State::Fence: {  // V3: an optional "```json" line opens the arguments
        if (buf_.size() < 3 && std::string_view("```").substr(0, buf_.size()) == buf_ && !final) return;
        if (buf_.rfind("```", 0) == 0) {
          const size_t nl = buf_.find('\n');
          if (nl == std::string::npos) {
            if (!final) return;
            buf_.clear();
          } else {
            buf_.erase(0, nl + 1);
          }
        }
        state_ = State::Args;
        break;
      }
      case State::Args: {
        held_ += buf_;
        buf_.clear();
        const Found f = find_first(held_, {kToolCallEnd});
        if (f.pos == std::string::npos) {
          // Release all but a possible closing fence and a possible start of the end marker.
          const size_t safe = safe_length(held_, {kToolCallEnd});
          const size_t n = safe - fence_tail(std::string_view(held_).substr(0, safe));
          emit(out, K::Arguments, held_.substr(0, n));
          held_.erase(0, n);
          return;
        }
        std::string_view args = std::string_view(held_).substr(0, f.pos);
        args.remove_suffix(fence_tail(args));
        emit(out, K::Arguments, std::string(args));
        buf_ = held_.substr(f.pos + f.marker.size());
        held_.clear();
        state_ = State::Block;
        break;
      }
    }
  }
}

}  // namespace fathom::server
