#include "training/arith_task.h"

#include <fmt/format.h>

namespace fathom::train {

namespace {
uint64_t mix(uint64_t z) {  // splitmix64
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool is_integer(std::string_view s) {
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  if (s[0] == '0') return s.size() == 1 && !negative;  // "0" only: no leading zeros, no "-0"
  return true;
}
}  // namespace

std::string ArithProblem::question() const { return fmt::format("What is {} {} {}?", a, op, b); }

ArithProblem arith_problem(uint64_t seed, int64_t index) {
  const uint64_t h = mix(seed ^ mix(uint64_t(index) + 0xa417ull));
  ArithProblem p;
  const uint64_t kind = h % 3, r1 = mix(h), r2 = mix(r1);
  if (kind == 2) {
    p.op = '*';
    p.a = int64_t(r1 % 1000);
    p.b = int64_t(r2 % 100);
  } else {
    p.op = kind == 0 ? '+' : '-';
    p.a = int64_t(r1 % 10000);
    p.b = int64_t(r2 % 10000);
  }
  return p;
}

std::optional<ParsedAnswer> parse_reasoned_answer(std::string_view completion, std::string* error) {
  auto bad = [&](const char* why) -> std::optional<ParsedAnswer> {
    if (error) *error = why;
    return std::nullopt;
  };
  const std::string_view open = "<think>", close = "</think>";
  std::string_view s = completion;
  const size_t lead = s.find_first_not_of(" \t\r\n");
  if (lead == std::string_view::npos || s.substr(lead, open.size()) != open) return bad("no <think> at the start");
  s.remove_prefix(lead + open.size());
  const size_t end = s.find(close);
  if (end == std::string_view::npos) return bad("no </think>");
  ParsedAnswer out;
  out.think = s.substr(0, end);
  if (out.think.find(open) != std::string_view::npos) return bad("nested <think>");
  std::string_view rest = trim(s.substr(end + close.size()));
  if (rest.find(open) != std::string_view::npos || rest.find(close) != std::string_view::npos)
    return bad("more than one think block");
  if (rest.empty()) return bad("no answer after </think>");
  const size_t nl = rest.find_last_of('\n');
  out.final_line = trim(nl == std::string_view::npos ? rest : rest.substr(nl + 1));
  if (!is_integer(out.final_line)) return bad("the last line is not an integer alone");
  return out;
}

TaskItem ArithTask::item(uint64_t seed, int64_t index) const {
  const ArithProblem p = arith_problem(seed, index);
  return {p.question(), std::to_string(p.answer()), fmt::format("A {} B", p.op)};
}

Verdict ArithTask::verify(const TaskItem& item, std::string_view completion) const {
  Verdict v;
  const auto parsed = parse_reasoned_answer(completion);
  if (!parsed) return v;
  v.format_ok = true;
  v.think_chars = int64_t(parsed->think.size());
  v.correct = parsed->final_line == item.expected;
  v.reward = v.correct ? 1.0 : 0.0;
  return v;
}

}  // namespace fathom::train
