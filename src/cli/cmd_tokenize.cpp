// `fathom tokenize`: text to token ids, as a JSON array (or one array per line with --jsonl).
// --time reports single-thread encode throughput on stderr (the benchmark in docs/PERFORMANCE.md).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "core/error.h"
#include "core/json.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

struct Options {
  std::string model, text_file;
  bool bos = false, jsonl = false, time = false;
};

std::string read_all(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  return fathom::read_text_file(path);
}

// Wall and CPU seconds: the machine may be shared, and CPU time of this thread is what one thread
// of encoding costs.
struct Timer {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu0 = cpu_now();
  static double cpu_now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  }
  void report(size_t bytes, size_t tokens, size_t texts) const {
    double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    double c = cpu_now() - cpu0;
    std::fprintf(stderr, "fathom: %zu bytes in %zu text(s) -> %zu tokens: wall %.3f s (%.2f MB/s), "
                 "cpu %.3f s (%.2f MB/s), 1 thread\n", bytes, texts, tokens, w, bytes / w / 1e6, c,
                 bytes / c / 1e6);
  }
};

void print_ids(const std::vector<int32_t>& ids) {
  std::string line = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ',';
    line += std::to_string(ids[i]);
  }
  line += "]\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
}

int run(const Options& o) {
  auto tok = fathom::Tokenizer::load(o.model);
  std::string text = read_all(o.text_file);
  if (!o.jsonl) {
    if (!fathom::tok::is_valid_utf8(text))
      std::fprintf(stderr, "fathom: warning: %s is not valid UTF-8; invalid bytes are encoded as "
                           "U+FFFD\n", o.text_file.c_str());
    Timer timer;
    auto ids = tok.encode(text, o.bos);
    if (o.time) {
      timer.report(text.size(), ids.size(), 1);
      return 0;
    }
    print_ids(ids);
    return 0;
  }
  std::istringstream lines(text);
  std::string line;
  size_t n = 0;
  std::vector<std::string> texts;
  while (std::getline(lines, line)) {
    ++n;
    if (line.empty()) continue;
    const nlohmann::json j = fathom::parse_json(line, fmt::format("{}:{}", o.text_file, n));
    if (!j.is_string()) fathom::fail("{}:{}: expected a JSON string", o.text_file, n);
    texts.push_back(j.get<std::string>());
  }
  if (o.time) {
    size_t bytes = 0, tokens = 0;
    Timer timer;
    for (auto& t : texts) {
      bytes += t.size();
      tokens += tok.encode(t, o.bos).size();
    }
    timer.report(bytes, tokens, texts.size());
    return 0;
  }
  for (auto& t : texts) print_ids(tok.encode(t, o.bos));
  return 0;
}

fathom::cli::Command reg("tokenize", "Encode text into token ids (JSON array)", [](CLI::App& sub) {
  auto o = std::make_shared<Options>();
  sub.add_option("model", o->model, "model directory or tokenizer.json")->required();
  sub.add_option("--text-file", o->text_file, "text to encode ('-' for stdin)")->required();
  sub.add_flag("--bos", o->bos, "add BOS/EOS as tokenizer_config.json says");
  sub.add_flag("--jsonl", o->jsonl, "input has one JSON string per line; print one array per line");
  sub.add_flag("--time", o->time, "print encode throughput to stderr instead of the ids");
  return std::function<int()>([o] { return run(*o); });
});

}  // namespace
