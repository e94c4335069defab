// `fathom prepare`: tokenizes text files into DATA/train.bin, DATA/val.bin and DATA/meta.json for
// `fathom train` (format and document / split rules in src/training/prepare.h).
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "training/prepare.h"
#include "training/prepare_chat.h"

namespace {

struct Options {
  std::string tokenizer, out;
  std::vector<std::string> files;
  double val_fraction = 0.05;
  int threads = 0;
  bool chat = false;
};

int run(const Options& o) {
  fathom::train::PrepareOptions opts;
  opts.val_fraction = o.val_fraction;
  opts.threads = o.threads;
  opts.progress = isatty(STDERR_FILENO);
  std::vector<std::filesystem::path> files(o.files.begin(), o.files.end());
  auto r = o.chat ? fathom::train::prepare_chat_data(o.tokenizer, files, o.out, opts)
                  : fathom::train::prepare_data(o.tokenizer, files, o.out, opts);
  std::fprintf(stderr,
               "[prepare] %.1f MB -> train %lld tokens (%lld documents), val %lld tokens (%lld "
               "documents), vocab %lld, in %.1f s; wrote %s/{train.bin,val.bin,%smeta.json}\n",
               r.bytes / 1e6, static_cast<long long>(r.train_tokens),
               static_cast<long long>(r.train_documents), static_cast<long long>(r.val_tokens),
               static_cast<long long>(r.val_documents), static_cast<long long>(r.vocab_size),
               r.seconds, o.out.c_str(), o.chat ? "train.mask,val.mask," : "");
  if (o.val_fraction > 0 && r.val_documents == 0)
    std::fprintf(stderr, "[prepare] warning: no validation documents (too few documents for "
                         "--val-fraction %g)\n", o.val_fraction);
  return 0;
}

fathom::cli::Command reg(
    "prepare", "Tokenize text files into train.bin / val.bin / meta.json for fathom train",
    [](CLI::App& sub) {
      auto o = std::make_shared<Options>();
      sub.add_option("files", o->files,
                     "UTF-8 text files; blank lines separate documents (with --chat: JSONL conversations)")
          ->required();
      sub.add_option("--tokenizer", o->tokenizer, "directory with tokenizer.json")->required();
      sub.add_option("--out", o->out, "output directory")->required();
      sub.add_flag("--chat", o->chat,
                   "inputs are JSONL {\"messages\": [{\"role\", \"content\"}...]} rendered with the tokenizer's chat "
                   "template; the loss is on assistant tokens only (train.mask / val.mask)");
      sub.add_option("--val-fraction", o->val_fraction,
                     "fraction of documents held out for validation (evenly spaced)")
          ->capture_default_str();
      fathom::cli::add_threads_option(sub, o->threads, "--threads", "encoding threads (0: all cores)")
          ->capture_default_str();
      return std::function<int()>([o] { return run(*o); });
    });

}  // namespace
