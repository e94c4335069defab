// `fathom detokenize`: token ids back to text, printed as-is (no newline is added). With --jsonl,
// reads one JSON array of ids per line and prints one JSON string per line.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/json.h"
#include "tokenizer/tokenizer.h"

namespace {

struct Options {
  std::string model, ids, jsonl;
  bool skip_special = false;
};

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '[' || s[i] == ']')) ++i;
    if (i >= s.size()) break;
    size_t used = 0;
    long v;
    try {
      v = std::stol(s.substr(i), &used);
    } catch (const std::exception&) {
      fathom::fail("--ids: '{}' is not a comma-separated list of integers", s);
    }
    ids.push_back(static_cast<int32_t>(v));
    i += used;
  }
  return ids;
}

int run(const Options& o) {
  auto tok = fathom::Tokenizer::load(o.model);
  if (!o.jsonl.empty()) {
    std::ifstream f(o.jsonl);
    if (!f) fathom::fail("cannot open {}", o.jsonl);
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty()) continue;
      const nlohmann::json j = fathom::parse_json(line, o.jsonl);
      std::vector<int32_t> ids;
      for (auto& x : j.is_array() ? j : nlohmann::json::array({nullptr})) {
        if (!x.is_number_integer() || x.get<int64_t>() < INT32_MIN || x.get<int64_t>() > INT32_MAX)
          fathom::fail("{}: each line must be a JSON array of token ids", o.jsonl);
        ids.push_back(int32_t(x.get<int64_t>()));
      }
      std::string out = nlohmann::json(tok.decode(ids, o.skip_special)).dump() + "\n";
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
    return 0;
  }
  if (o.ids.empty()) fathom::fail("detokenize needs --ids or --jsonl");
  auto ids = parse_ids(o.ids);
  for (int32_t id : ids)
    if (!tok.is_valid_id(id))
      fathom::fail("token id {} is not in the vocabulary (size {})", id, tok.vocab_size());
  std::string text = tok.decode(ids, o.skip_special);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

fathom::cli::Command reg("detokenize", "Decode token ids into text", [](CLI::App& sub) {
  auto o = std::make_shared<Options>();
  sub.add_option("model", o->model, "model directory or tokenizer.json")->required();
  auto* ids = sub.add_option("--ids", o->ids, "ids, e.g. 1,2,3 or [1,2,3]");
  auto* jsonl = sub.add_option("--jsonl", o->jsonl, "file with one JSON array of ids per line");
  ids->excludes(jsonl);
  sub.add_flag("--skip-special", o->skip_special, "leave out special tokens");
  return std::function<int()>([o] { return run(*o); });
});

}  // namespace
